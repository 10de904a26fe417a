// The errors of cross-memory attach: each says what went wrong and what the
// user can do. All extend SystemError, so `code`, `syscall` and `errno` are set.
import { SystemError } from '../errors.js';
import { explainRefusal } from './permission.js';

const EPERM = 1;
const ESRCH = 3;
const EFAULT = 14;

/** The kernel refused access to the other process's memory (EPERM). */
export class CmaPermissionError extends SystemError {
  readonly pid: number;
  constructor(syscall: string, pid: number) {
    super(EPERM, syscall);
    this.name = 'CmaPermissionError';
    this.pid = pid;
    this.message = `${syscall} of process ${pid} was refused (EPERM): ${explainRefusal(pid)}`;
  }
}

/** The other process no longer exists (ESRCH). */
export class ProcessGoneError extends SystemError {
  readonly pid: number;
  constructor(syscall: string, pid: number) {
    super(ESRCH, syscall);
    this.name = 'ProcessGoneError';
    this.pid = pid;
    this.message = `${syscall}: process ${pid} does not exist (it has exited, or the pid is wrong)`;
  }
}

/** An address range is not mapped (or not writable) in one of the processes (EFAULT). */
export class BadAddressError extends SystemError {
  readonly pid: number;
  readonly address: bigint;
  readonly length: number;
  constructor(syscall: string, pid: number, address: bigint, length: number) {
    super(EFAULT, syscall);
    this.name = 'BadAddressError';
    this.pid = pid;
    this.address = address;
    this.length = length;
    const end = address + BigInt(length);
    this.message = `${syscall}: bytes 0x${address.toString(16)}..0x${end.toString(16)} (${length} bytes) of process ${pid} are not mapped with the access needed (EFAULT); the peer may have released or freed that buffer`;
  }
}

/** Turns -errno from process_vm_readv/writev into the matching error. */
export function cmaError(errno: number, syscall: string, pid: number, address: bigint, length: number): SystemError {
  switch (errno) {
    case EPERM: return new CmaPermissionError(syscall, pid);
    case ESRCH: return new ProcessGoneError(syscall, pid);
    case EFAULT: return new BadAddressError(syscall, pid, address, length);
    default: return new SystemError(errno, syscall, `process ${pid}`);
  }
}
