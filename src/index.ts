// fastbus: fast interprocess messaging for Node.js on Linux.
// Subpaths: fastbus/cma (cross-memory attach). More layers join as they land.
export * as cma from './cma/index.js';
export { SystemError } from './errors.js';
