// A client connection to a D-Bus bus (or a peer): serials, sending, dispatch
// of what arrives by type, exported objects, name ownership, and the hooks of
// the direct path. Every outgoing message of one tick leaves in one system call
// (the transport batches); incoming frames are decoded once and dispatched by
// type. A peer's protocol fault closes the connection and rejects every pending
// call with DisconnectedError. The calls waiting for replies (timeouts,
// AbortSignal) live in pending-calls.ts, signal subscriptions in
// signal-subscriptions.ts, the option and message shapes in connection-options.ts.
import { EventEmitter } from 'node:events';
import { ProtocolError } from '../errors.js';
import type { MessageStream } from '../transport/index.js';
import { decodeMessage, encodeMessage, MessageFlags, MessageType, type Message } from '../wire/index.js';
import { AbortError, DBusError, DisconnectedError, ErrorNames } from './errors.js';
import type { InterfaceDefinition, InterfaceSpec, Implementation } from './define-interface.js';
import { ObjectTable, type ExportedInterface } from './object-table.js';
import type { SignalFilter } from './signal-filter.js';
import { SignalSubscriptions, type SignalIterator, type SignalSubscription } from './signal-subscriptions.js';
import { ProxyObject } from './proxy.js';
import type { NodeInfo } from './introspection.js';
import { IntrospectionCache } from './introspection-cache.js';
import { DirectLink } from './direct-link.js';
import type { DirectPeer } from './direct-peer.js';
import { callEndChannel, callStartChannel, receiveChannel, sendChannel } from './diagnostics-channels.js';
import { describeCall, PendingCalls } from './pending-calls.js';

import {
  NameFlags, ReleaseNameReply, RequestNameReply, ReplyPick,
  type CallOptions, type ConnectionOptions, type DirectPeerInfo, type MethodCall, type OutgoingMessage,
} from './connection-options.js';

export type { SignalIterator, SignalSubscription } from './signal-subscriptions.js';
export { NameFlags, ReleaseNameReply, RequestNameReply, ReplyPick };
export type { CallOptions, ConnectionOptions, DirectPeerInfo, MethodCall, OutgoingMessage };

export { callEndChannel, callStartChannel, receiveChannel, sendChannel };

const DBUS = 'org.freedesktop.DBus';
/** The options of a call given none (not a fresh object per call). */
const NO_OPTIONS: CallOptions = Object.freeze({});
const DBUS_PATH = '/org/freedesktop/DBus';

/**
 * A connection to a bus. Make one with `connect()`, `sessionBus()` or
 * `systemBus()`; close it with `close()` (or `await using`).
 */
export class Connection extends EventEmitter {
  /** The unique name the bus gave (empty for a peer connection). */
  uniqueName = '';
  readonly guid: string;
  /** Whether unix fds can be passed on this connection. */
  readonly unixFd: boolean;
  /** Default call timeout in ms. */
  readonly timeoutMs: number;
  private readonly stream: MessageStream;
  private readonly dictAsObject: boolean;
  private serial = 0;
  /** The calls waiting for a reply. */
  private readonly calls: PendingCalls;
  private readonly objects: ObjectTable;
  private readonly signalSubs: SignalSubscriptions;
  private readonly introspection = new IntrospectionCache((call, options) => this.callMethod(call, options));
  private closedError: Error | undefined;
  /** The direct path (its peers, once the bus accepted it: connect() with direct: 'auto'). */
  private readonly link: DirectLink;
  /** The direct peer the last send() went to (undefined: the bus). */
  private lastVia: string | undefined;
  private closing = false;
  private isClosed = false;

  /** @internal use connect() */
  constructor(stream: MessageStream, guid: string, unixFd: boolean, options: ConnectionOptions) {
    super();
    this.stream = stream;
    this.guid = guid;
    this.unixFd = unixFd;
    this.timeoutMs = options.timeoutMs ?? 25000;
    this.calls = new PendingCalls(this, this.timeoutMs);
    this.link = new DirectLink({
      connection: this, calls: this.calls, busSend: (bytes, fds, ours) => this.stream.send(bytes, fds, ours),
      dispatch: (msg, from) => this.dispatch(msg, from), handle: (msg) => this.handle(msg), matchRules: () => this.signalSubs.ruleTexts(),
    });
    this.dictAsObject = options.dictAsObject ?? true;
    this.decodeOptions = { dictAsObject: this.dictAsObject };
    this.objects = new ObjectTable(this);
    this.signalSubs = new SignalSubscriptions({
      busCall: (member, signature, body) => this.busCall(member, signature, body),
      getNameOwner: (name) => this.getNameOwner(name),
      closed: () => this.isClosed,
      rulesChanged: () => this.link.peers?.rulesChanged(),
    });
    // Each frame is decoded at once and none of its bytes kept (ay values are copied).
    stream.borrowFrames = true;
    stream.onMessage = (frame) => this.receive(frame);
    stream.onClose = (error) => this.streamClosed(error);
    // A handshake leaves the stream paused until its handlers are set.
    stream.resume();
  }

  /** Calls waiting for a reply. */
  get pendingCalls(): number {
    return this.calls.size;
  }

  /** Whether the connection is closed. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Sends a message; returns its serial. Throws EncodeError (a TypeError) for values that do not fit the signature. */
  send(message: OutgoingMessage, fds?: number[]): number {
    if (this.isClosed) throw new DisconnectedError(`cannot send: connection closed${this.closedError ? ` (${this.closedError.message})` : ''}`, { cause: this.closedError });
    const serial = this.nextSerial();
    const msg = message as Message;
    msg.serial = serial;
    if (msg.flags === undefined) msg.flags = 0;
    if (msg.body === undefined) msg.body = [];
    if (fds && fds.length > 0) {
      if (!this.unixFd) throw new DBusError(ErrorNames.NotSupported, 'this connection cannot pass unix fds');
      msg.unixFds = fds.length;
    }
    const direct = this.link.peers;
    if (direct !== undefined) {
      this.lastVia = this.link.send(direct, msg, fds);
      return serial;
    }
    const bytes = encodeMessage(msg);
    if (sendChannel.hasSubscribers) sendChannel.publish({ connection: this, message: msg });
    this.stream.send(bytes, fds);
    return serial;
  }

  /**
   * Sends a method call and resolves with the reply message; rejects with
   * DBusError (error reply), TimeoutError, AbortError or DisconnectedError.
   */
  call(call: MethodCall, options?: CallOptions): Promise<Message> {
    return this.callPicking(call, options, ReplyPick.MESSAGE) as Promise<Message>;
  }

  /**
   * @internal call(), resolving with `pick` of the reply: a proxy or
   * callMethod() gets its values without a promise (and a turn) of its own.
   */
  callPicking(call: MethodCall, options: CallOptions = NO_OPTIONS, pick: ReplyPick): Promise<unknown> {
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(new AbortError(describeCall(call), { cause: signal.reason }));
    // Every field in one literal, in the order send() and the encoder read them: one object shape for every call.
    const msg: Message = {
      type: MessageType.METHOD_CALL,
      flags: (call.flags ?? 0) & ~MessageFlags.NO_REPLY_EXPECTED,
      serial: 0,
      path: call.path,
      interface: call.interface,
      member: call.member,
      destination: call.destination,
      signature: call.signature || undefined,
      body: call.body ?? [],
    };
    let serial: number;
    try {
      serial = this.send(msg, options.fds);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.calls.add(serial, msg, pick, options, this.link.peers !== undefined ? this.lastVia : undefined);
  }

  /** Calls a method and resolves with the reply's body values. */
  callMethod(call: MethodCall, options?: CallOptions): Promise<unknown[]> {
    return this.callPicking(call, options, ReplyPick.BODY) as Promise<unknown[]>;
  }

  /** Sends a signal; returns its serial. */
  emitSignal(path: string, iface: string, member: string, signature = '', body: unknown[] = [], destination?: string): number {
    const msg: OutgoingMessage = { type: MessageType.SIGNAL, path, interface: iface, member, body };
    if (signature) msg.signature = signature;
    if (destination !== undefined) msg.destination = destination;
    return this.send(msg);
  }

  /** Calls a method of the bus driver (org.freedesktop.DBus). */
  async busCall(member: string, signature = '', body: unknown[] = [], options?: CallOptions): Promise<unknown[]> {
    return this.callMethod({ destination: DBUS, path: DBUS_PATH, interface: DBUS, member, signature, body }, options);
  }

  /** Adds a match rule, counted: the bus gets AddMatch only for the first holder. */
  addMatch(rule: string): Promise<void> {
    return this.signalSubs.addMatch(rule);
  }

  /** Drops one holder of a match rule; the last one sends RemoveMatch. */
  removeMatch(rule: string): Promise<void> {
    return this.signalSubs.removeMatch(rule);
  }

  /** The match rules this connection holds, with their counts (for tests and diagnostics). */
  get matchRules(): ReadonlyMap<string, number> {
    return this.signalSubs.matchRules;
  }

  /**
   * Subscribes to signals; resolves once the bus has installed the match rule
   * (and, for a well-known sender, once its owner is known).
   */
  subscribe(filter: SignalFilter, handler: (message: Message) => void): Promise<SignalSubscription> {
    return this.signalSubs.subscribe(filter, handler);
  }

  /**
   * Signals as a bounded async iterator (default capacity 1024; when full the
   * oldest is dropped and `dropped` counts it). Resolves once the match rule is
   * installed. Ends when the connection closes, the AbortSignal fires, or the
   * loop exits (break), which releases the match rule.
   */
  signals(filter: SignalFilter, options: { capacity?: number; signal?: AbortSignal } = {}): Promise<SignalIterator> {
    return this.signalSubs.signals(filter, options);
  }

  /** Asks the bus for a name; resolves with the RequestName reply code. */
  async requestName(name: string, flags = 0): Promise<number> {
    const [code] = await this.busCall('RequestName', 'su', [name, flags]);
    return code as number;
  }

  /** Releases a name; resolves with the ReleaseName reply code. */
  async releaseName(name: string): Promise<number> {
    const [code] = await this.busCall('ReleaseName', 's', [name]);
    return code as number;
  }

  /** The current owner of a name, or undefined when it has none. */
  async getNameOwner(name: string): Promise<string | undefined> {
    try {
      const [owner] = await this.busCall('GetNameOwner', 's', [name]);
      return owner as string;
    } catch (e) {
      if (e instanceof DBusError && e.name === ErrorNames.NameHasNoOwner) return undefined;
      throw e;
    }
  }

  /** Exports an implementation of an interface at `path`; returns a handle to emit signals and unexport. */
  export<S extends InterfaceSpec>(path: string, definition: InterfaceDefinition<S>, implementation: Implementation<S>): ExportedInterface<S> {
    return this.objects.add(path, definition as unknown as InterfaceDefinition, implementation as Record<string, unknown>) as unknown as ExportedInterface<S>;
  }

  /** Makes `path` an org.freedesktop.DBus.ObjectManager for the objects below it. */
  exportObjectManager(path: string): void {
    this.objects.addObjectManager(path);
  }

  /** Introspects an object (cached per destination and path; `fresh` bypasses the cache). */
  introspect(destination: string, path: string, options: CallOptions & { fresh?: boolean } = {}): Promise<NodeInfo> {
    return this.introspection.get(destination, path, options);
  }

  /** A proxy for a remote object, built from its introspection data (cached). */
  async proxy(destination: string, path: string, options?: CallOptions): Promise<ProxyObject> {
    const node = await this.introspect(destination, path, options);
    return new ProxyObject(this, destination, path, node);
  }

  /**
   * Turns this connection into a monitor (org.freedesktop.DBus.Monitoring.BecomeMonitor):
   * from then on every message the bus copies to it (matching `rules`, or all
   * when empty) goes to `handler`, and the connection sends nothing else.
   */
  async becomeMonitor(rules: string[], handler: (message: Message) => void): Promise<void> {
    this.monitorHandler = handler;
    try {
      await this.callMethod({ destination: DBUS, path: DBUS_PATH, interface: 'org.freedesktop.DBus.Monitoring', member: 'BecomeMonitor', signature: 'asu', body: [rules, 0] });
    } catch (e) {
      this.monitorHandler = undefined;
      throw e;
    }
  }

  private monitorHandler: ((message: Message) => void) | undefined;

  /** Stops this connection from keeping the process alive while idle. */
  unref(): this {
    this.stream.unref();
    this.calls.holdProcess(true);
    return this;
  }

  /** Undoes unref(). */
  ref(): this {
    this.stream.ref();
    this.calls.holdProcess(false);
    return this;
  }

  /** Closes the connection: pending calls reject with DisconnectedError, iterators end. */
  close(): void {
    this.closing = true;
    this.link.peers?.close();
    this.stream.close();
  }

  /** @internal Asks the bus for the direct path; resolves with whether it agreed. */
  enableDirect(busy: boolean): Promise<boolean> {
    return this.link.enable(busy);
  }

  /** Whether the bus granted the direct path to this connection. */
  get directEnabled(): boolean {
    return this.link.peers !== undefined;
  }

  /** The peers this connection has a direct channel with (for diagnostics and tests). */
  directPeers(): DirectPeerInfo[] {
    return this.link.list();
  }

  /** Whether traffic to `uniqueName` travels a direct channel now. */
  isDirect(uniqueName: string): boolean {
    return this.link.isDirect(uniqueName);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  /** @internal Decoding options, one object for every message. */
  readonly decodeOptions: { dictAsObject: boolean };

  private nextSerial(): number {
    this.serial = this.serial >= 0xffffffff ? 1 : this.serial + 1;
    return this.serial;
  }

  private receive(frame: Uint8Array): void {
    let msg: Message;
    try {
      const d = decodeMessage(frame, this.decodeOptions);
      if (d.unixFds) d.fds = this.stream.takeFds(d.unixFds);
      msg = d as unknown as Message;
    } catch (e) {
      this.stream.close(e instanceof ProtocolError ? e : new ProtocolError('BAD_MESSAGE', (e as Error).message));
      return;
    }
    this.handle(msg);
  }

  /** One message from the bus, in order. */
  private handle(msg: Message): void {
    if (this.link.held(msg)) return;
    const direct = this.link.peers;
    if (direct !== undefined && direct.fromBus(msg)) return;
    this.dispatch(msg, undefined);
  }

  /** Handles a message from the bus, or from the direct peer `from` (whose replies settle only calls it may answer). */
  private dispatch(msg: Message, from: DirectPeer | undefined): void {
    if (receiveChannel.hasSubscribers) receiveChannel.publish({ connection: this, message: msg });
    const type = msg.type;
    if (type === MessageType.METHOD_RETURN || type === MessageType.ERROR) {
      const p = msg.replySerial === undefined ? undefined : this.calls.get(msg.replySerial);
      // A monitor gets everything but the replies to its own calls.
      if (this.monitorHandler !== undefined && !(p !== undefined && msg.destination === this.uniqueName)) return this.monitorHandler(msg);
      if (p === undefined) return;
      // On a channel nobody checks for us that the reply answers a call made to this peer.
      if (from !== undefined && !(p.via === from.uniqueName || (p.via === undefined && from.answersFor(p.message.destination)))) return;
      return this.calls.answer(p, msg);
    }
    if (this.monitorHandler !== undefined) {
      // A message of an unknown type that names one of our calls is, like a reply, not the monitor's.
      const ours = type !== MessageType.METHOD_CALL && type !== MessageType.SIGNAL && msg.replySerial !== undefined &&
        this.calls.get(msg.replySerial) !== undefined && msg.destination === this.uniqueName;
      if (!ours) this.monitorHandler(msg);
      return;
    }
    switch (type) {
      case MessageType.SIGNAL:
        if (msg.sender === DBUS && msg.interface === DBUS && msg.destination === this.uniqueName) {
          if (msg.member === 'NameAcquired') this.emit('name-acquired', msg.body[0]);
          else if (msg.member === 'NameLost') this.emit('name-lost', msg.body[0]);
        }
        this.signalSubs.dispatch(msg);
        break;
      case MessageType.METHOD_CALL:
        this.objects.dispatch(msg);
        break;
      default:
        break; // unknown types are ignored (specification)
    }
  }

  private streamClosed(error: Error | undefined): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closedError = error;
    const why = error ? `connection lost: ${error.message}` : this.closing ? 'connection closed' : 'connection closed by the bus';
    this.calls.close();
    this.calls.failAll((p) => new DisconnectedError(`${describeCall(p.message)}: ${why}`, { cause: error }));
    this.signalSubs.endIterators(error, why);
    this.emit('close', error);
  }
}
