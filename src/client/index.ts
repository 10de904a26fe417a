// fastbus client: connections to any D-Bus bus, calls with timeouts and
// AbortSignal, proxies, signal subscriptions and iterators, exported objects
// defined with defineInterface, introspection XML. See docs/client.md.
export { connect } from './connect.js';
export {
  Connection, NameFlags, RequestNameReply, ReleaseNameReply,
  sendChannel, receiveChannel, callStartChannel, callEndChannel,
  type ConnectionOptions, type CallOptions, type MethodCall, type OutgoingMessage, type SignalSubscription, type SignalIterator,
} from './connection.js';
export { sessionBus, systemBus, sessionBusAddress, systemBusAddress } from './bus.js';
export { DBusError, TimeoutError, AbortError, DisconnectedError, ErrorNames } from './errors.js';
export { defineInterface, type InterfaceDefinition, type InterfaceSpec, type MethodSpec, type PropertySpec, type SignalSpec, type Implementation, type Invocation } from './define-interface.js';
export type { ExportedInterface } from './object-table.js';
export { ProxyObject, ProxyInterface } from './proxy.js';
export { formatSignalRule, signalMatches, type SignalFilter } from './signal-filter.js';
export { BoundedIterator } from './signal-iterator.js';
export {
  parseIntrospection, formatIntrospection, formatInterface, methodSignatures, IntrospectionError,
  type NodeInfo, type InterfaceInfo, type MethodInfo, type SignalInfo, type PropertyInfo, type ArgInfo, type Annotations,
} from './introspection.js';
export { generateTypeScript, tsType, typeName, type CodegenOptions } from './codegen.js';
export { Variant, MessageType, MessageFlags, type Message } from '../wire/index.js';
