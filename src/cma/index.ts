// fastbus/cma: cross-memory attach for Node. Read and write another
// process's memory with one copy (process_vm_readv/writev), expose buffers to
// peers, and probe whether a peer can be reached this way.
export {
  readFrom, writeTo, readFully, writeFully, copyFromProcess, copyToProcess,
  MAX_BYTES_PER_CALL, type RemoteRange,
} from './transfer.js';
export { exposeBuffer, exposedCount, parseExposedRange, type ExposedBuffer, type ExposedRange } from './expose.js';
export { probe, type ProbeResult } from './probe.js';
export { CmaPermissionError, ProcessGoneError, BadAddressError } from './errors.js';
export { IOV_MAX } from '../native/native.js';
