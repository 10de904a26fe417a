// fastbus: fast interprocess messaging for Node.js on Linux.
// Subpaths: fastbus/cma (cross-memory attach), fastbus/wire (D-Bus wire
// format), fastbus/names (validated D-Bus names). More layers join as they land.
export * as cma from './cma/index.js';
export * as wire from './wire/index.js';
export * as names from './names/index.js';
export { SystemError, ProtocolError } from './errors.js';
