// Errors shared by every layer. A system call's failure is a `SystemError`
// (code, syscall, errno, as Node's own); layers add their own classes on top.
import { constants } from 'node:os';

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}

/** The symbolic name of an errno value (`1` -> `'EPERM'`). */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

/** A failed system call, shaped like Node's own errors. */
export class SystemError extends Error {
  readonly code: string;
  readonly syscall: string;
  readonly errno: number;

  constructor(errno: number, syscall: string, detail?: string) {
    const code = errnoName(errno);
    super(`${syscall} failed: ${code}${detail ? ` (${detail})` : ''}`);
    this.name = 'SystemError';
    this.code = code;
    this.syscall = syscall;
    this.errno = errno;
  }
}

/** A bug: an invariant this library relies on did not hold. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`fastbus internal assertion failed: ${message}`);
}

/**
 * A peer broke the protocol (malformed or oversize message, bad handshake).
 * Caught once per connection: the broker drops that peer with one log line,
 * the client rejects its pending calls. `code` is a stable machine-readable
 * word such as 'BAD_SIGNATURE' or 'MESSAGE_TOO_LONG'.
 */
export class ProtocolError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
  }
}
