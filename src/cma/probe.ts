// Whether single-copy transfers work with a given peer, found by a real small
// read of memory that peer exposed (never by guessing from configuration),
// and if not, why.
import { SystemError } from '../errors.js';
import { ENOSYS } from '../native/native.js';
import { CmaPermissionError, ProcessGoneError, BadAddressError } from './errors.js';
import { explainRefusal } from './permission.js';
import { checkRange, readFrom, type RemoteRange } from './transfer.js';

export type ProbeResult =
  | { ok: true }
  | { ok: false; code: 'EPERM' | 'ESRCH' | 'EFAULT' | 'ENOSYS' | string; reason: string };

/** Reads up to 64 bytes of `remote` in process `pid` to learn whether CMA works with it. */
export function probe(pid: number, remote: RemoteRange): ProbeResult {
  checkRange(remote?.address, remote?.length, 'remote');
  const length = Math.max(1, Math.min(64, remote.length));
  try {
    readFrom(pid, [{ address: remote.address, length }], [new Uint8Array(length)]);
    return { ok: true };
  } catch (error) {
    if (error instanceof CmaPermissionError) return { ok: false, code: 'EPERM', reason: explainRefusal(pid) };
    if (error instanceof ProcessGoneError || error instanceof BadAddressError) return { ok: false, code: error.code, reason: error.message };
    if (error instanceof SystemError) {
      const reason = error.errno === ENOSYS
        ? 'this kernel has no process_vm_readv (ENOSYS: built without CONFIG_CROSS_MEMORY_ATTACH, or blocked by seccomp returning ENOSYS)'
        : error.message;
      return { ok: false, code: error.code, reason };
    }
    throw error;
  }
}
