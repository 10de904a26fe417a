// fastbus: fast interprocess messaging for Node.js on Linux.
// The root export is the D-Bus client (connect, sessionBus, systemBus,
// defineInterface, proxies...; see docs/client.md). Subpaths: fastbus/cma
// (cross-memory attach), fastbus/wire (D-Bus wire format), fastbus/names.
export * as cma from './cma/index.js';
export * as wire from './wire/index.js';
export * as names from './names/index.js';
export { SystemError, ProtocolError } from './errors.js';
export * from './client/index.js';
