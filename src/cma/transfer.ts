// Single-copy transfers between this process and another one with
// process_vm_readv/process_vm_writev ("cross-memory attach", the mechanism
// MPI uses for large intra-node messages). Arguments are checked here, before
// any system call; the kernel's per-call limits (IOV_MAX iovecs per side,
// MAX_RW_COUNT bytes) are split by readFully/writeFully.
import { cmaRead1, cmaReadv, cmaWrite1, cmaWritev, IOV_MAX } from '../native/native.js';
import { cmaError } from './errors.js';

/** A range of another process's memory. */
export interface RemoteRange {
  address: bigint;
  length: number;
}

/** The kernel moves at most this many bytes per call (INT_MAX & PAGE_MASK). */
export const MAX_BYTES_PER_CALL = 0x7ffff000;

const MAX_ADDRESS = (1n << 64n) - 1n;

function checkPid(pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid > 0x7fffffff) {
    throw new TypeError(`pid must be a positive integer, got ${String(pid)}`);
  }
}

function isDetached(view: ArrayBufferView): boolean {
  if (view.byteLength !== 0) return false;
  try {
    new Uint8Array(view.buffer, 0, 0);
    return false;
  } catch {
    return true;
  }
}

/** Checks a local view: an ArrayBufferView that is not detached. */
export function checkView(view: unknown, where: string, index = -1): asserts view is ArrayBufferView {
  if (!ArrayBuffer.isView(view)) throw new TypeError(`${where}${index >= 0 ? `[${index}]` : ''} must be an ArrayBufferView (Buffer, TypedArray or DataView)`);
  if (isDetached(view)) throw new TypeError(`${where}${index >= 0 ? `[${index}]` : ''} is detached`);
}

/** Checks an address/length pair of another process. */
export function checkRange(address: unknown, length: unknown, where: string): void {
  if (typeof address !== 'bigint') throw new TypeError(`${where}.address must be a bigint, got ${typeof address}`);
  if (address < 0n || address > MAX_ADDRESS) throw new RangeError(`${where}.address must be between 0 and 2^64-1`);
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(`${where}.length must be a non-negative integer, got ${String(length)}`);
  }
  if (address + BigInt(length) > MAX_ADDRESS + 1n) throw new RangeError(`${where} runs past the end of the address space`);
}

function checkLists(local: unknown, remote: unknown): asserts local is ArrayBufferView[] {
  if (!Array.isArray(local)) throw new TypeError('local must be an array of ArrayBufferViews');
  if (!Array.isArray(remote)) throw new TypeError('remote must be an array of { address, length } ranges');
  if (local.length === 0) throw new RangeError('local must list at least one view');
  if (remote.length === 0) throw new RangeError('remote must list at least one range');
  for (let i = 0; i < local.length; i++) checkView(local[i], 'local', i);
  for (let i = 0; i < remote.length; i++) {
    const r = remote[i] as RemoteRange;
    if (r === null || typeof r !== 'object') throw new TypeError(`remote[${i}] must be { address, length }`);
    checkRange(r.address, r.length, `remote[${i}]`);
  }
}

function pairs(remote: RemoteRange[]): BigUint64Array {
  const p = new BigUint64Array(remote.length * 2);
  for (let i = 0; i < remote.length; i++) {
    p[2 * i] = remote[i].address;
    p[2 * i + 1] = BigInt(remote[i].length);
  }
  return p;
}

type Direction = 'read' | 'write';

function once(direction: Direction, pid: number, local: ArrayBufferView[], remote: RemoteRange[]): number {
  let r: number;
  if (local.length === 1 && remote.length === 1) {
    const { address, length } = remote[0];
    r = direction === 'read' ? cmaRead1(pid, local[0], address, length) : cmaWrite1(pid, local[0], address, length);
  } else {
    r = direction === 'read' ? cmaReadv(pid, local, pairs(remote)) : cmaWritev(pid, local, pairs(remote));
  }
  if (r < 0) {
    const first = remote[0];
    throw cmaError(-r, direction === 'read' ? 'process_vm_readv' : 'process_vm_writev', pid, first.address, first.length);
  }
  return r;
}

/**
 * Reads another process's memory into local views, one system call
 * (the kernel's iovec form). Returns the bytes read, which may be fewer than
 * asked (the kernel stops at the first unmapped remote range).
 */
export function readFrom(pid: number, remote: RemoteRange[], local: ArrayBufferView[]): number {
  checkPid(pid);
  checkLists(local, remote);
  if (local.length > IOV_MAX || remote.length > IOV_MAX) throw new RangeError(`at most ${IOV_MAX} iovecs per side in one call: use readFully`);
  return once('read', pid, local, remote);
}

/** Writes local views into another process's memory, one system call. Returns the bytes written. */
export function writeTo(pid: number, local: ArrayBufferView[], remote: RemoteRange[]): number {
  checkPid(pid);
  checkLists(local, remote);
  if (local.length > IOV_MAX || remote.length > IOV_MAX) throw new RangeError(`at most ${IOV_MAX} iovecs per side in one call: use writeFully`);
  return once('write', pid, local, remote);
}

function total(lengths: Iterable<number>): number {
  let sum = 0;
  for (const n of lengths) sum += n;
  return sum;
}

/** A position in a list of ranges, advanced as bytes move. */
class Cursor<T> {
  index = 0;
  offset = 0;
  constructor(private readonly items: T[], private readonly lengthOf: (t: T) => number) {}

  /** Up to maxItems slices from the cursor, at most maxBytes in all. */
  take(maxItems: number, maxBytes: number, slice: (t: T, offset: number, length: number) => T): { items: T[]; bytes: number } {
    const items: T[] = [];
    let bytes = 0;
    let offset = this.offset;
    for (let i = this.index; i < this.items.length && items.length < maxItems && bytes < maxBytes; i++) {
      const len = Math.min(this.lengthOf(this.items[i]) - offset, maxBytes - bytes);
      if (len > 0) {
        items.push(slice(this.items[i], offset, len));
        bytes += len;
      }
      offset = 0;
    }
    return { items, bytes };
  }

  advance(bytes: number): void {
    while (bytes > 0) {
      const left = this.lengthOf(this.items[this.index]) - this.offset;
      if (bytes < left) {
        this.offset += bytes;
        return;
      }
      bytes -= left;
      this.index++;
      this.offset = 0;
    }
    while (this.index < this.items.length && this.lengthOf(this.items[this.index]) === this.offset) {
      this.index++;
      this.offset = 0;
    }
  }
}

function subview(v: ArrayBufferView, offset: number, length: number): ArrayBufferView {
  return new Uint8Array(v.buffer, v.byteOffset + offset, length);
}

function subrange(r: RemoteRange, offset: number, length: number): RemoteRange {
  return { address: r.address + BigInt(offset), length };
}

function fully(direction: Direction, pid: number, local: ArrayBufferView[], remote: RemoteRange[]): number {
  checkPid(pid);
  checkLists(local, remote);
  const want = total(local.map((v) => v.byteLength));
  const have = total(remote.map((r) => r.length));
  if (want !== have) throw new RangeError(`local views hold ${want} bytes but remote ranges hold ${have}: they must match`);
  const l = new Cursor(local, (v) => v.byteLength);
  const r = new Cursor(remote, (x) => x.length);
  let moved = 0;
  while (moved < want) {
    const rs = r.take(IOV_MAX, MAX_BYTES_PER_CALL, subrange);
    const ls = l.take(IOV_MAX, rs.bytes, subview);
    const rr = ls.bytes < rs.bytes ? r.take(IOV_MAX, ls.bytes, subrange) : rs;
    const n = once(direction, pid, ls.items, rr.items);
    if (n === 0) {
      // The kernel moved nothing without an error: the first remote range is unusable.
      const at = rr.items[0];
      throw cmaError(14, direction === 'read' ? 'process_vm_readv' : 'process_vm_writev', pid, at.address, at.length);
    }
    l.advance(n);
    r.advance(n);
    moved += n;
  }
  return moved;
}

/**
 * Reads all of the remote ranges into the local views (equal totals),
 * looping over partial transfers and splitting above the kernel's limits.
 * A range that is not mapped throws BadAddressError naming it.
 */
export function readFully(pid: number, remote: RemoteRange[], local: ArrayBufferView[]): number {
  return fully('read', pid, local, remote);
}

/** Writes all of the local views into the remote ranges (equal totals); see readFully. */
export function writeFully(pid: number, local: ArrayBufferView[], remote: RemoteRange[]): number {
  return fully('write', pid, local, remote);
}

/**
 * Copies `length` bytes at `address` in process `pid` into `target` (or a
 * new Buffer) and returns the bytes as a Uint8Array view of the target.
 */
export function copyFromProcess(pid: number, address: bigint, length: number, target?: ArrayBufferView): Uint8Array {
  checkPid(pid);
  checkRange(address, length, 'source');
  let out: Uint8Array;
  if (target === undefined) {
    out = Buffer.allocUnsafe(length);
  } else {
    checkView(target, 'target');
    if (length > target.byteLength) throw new RangeError(`length ${length} runs past the end of the target (${target.byteLength} bytes)`);
    out = new Uint8Array(target.buffer, target.byteOffset, length);
  }
  if (length > 0) fully('read', pid, [out], [{ address, length }]);
  return out;
}

/** Copies all of `source` into process `pid` at `address`. */
export function copyToProcess(pid: number, address: bigint, source: ArrayBufferView): void {
  checkPid(pid);
  checkView(source, 'source');
  checkRange(address, source.byteLength, 'target');
  if (source.byteLength > 0) fully('write', pid, [source], [{ address, length: source.byteLength }]);
}
