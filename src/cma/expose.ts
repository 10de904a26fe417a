// Exposing a buffer to a peer: its address and length in this process, with
// the bytes held alive until release(). While exposed, the buffer is kept
// reachable (not collected); it is marked untransferable (permanently, as
// Node allows no undo) so postMessage cannot detach it.
import { markAsUntransferable } from 'node:worker_threads';
import { addressOf } from '../native/native.js';
import { checkView } from './transfer.js';

/** What a peer needs to reach exposed bytes; plain data that survives JSON (address as a decimal string). */
export interface ExposedRange {
  pid: number;
  address: bigint;
  length: number;
}

/** An exposed buffer: a RemoteRange for the peer, and release(). */
export interface ExposedBuffer extends ExposedRange {
  /** Stops holding the bytes alive; idempotent. */
  release(): void;
  /** True until release(). */
  readonly exposed: boolean;
  /** `{ pid, address: "decimal", length }` for JSON. */
  toJSON(): { pid: number; address: string; length: number };
}

// Held views by id: the Map keeps each one reachable until release(). The
// handle itself refers only to the id, so dropping a handle without release()
// keeps the bytes held (a leak the caller can see in exposedCount()).
const held = new Map<number, ArrayBufferView>();
let nextId = 1;

/** The number of buffers currently exposed by this process. */
export function exposedCount(): number {
  return held.size;
}

/** Exposes `view`'s bytes for peers to read or write with cross-memory attach. */
export function exposeBuffer(view: ArrayBufferView): ExposedBuffer {
  checkView(view, 'view');
  const buffer = view.buffer as ArrayBuffer & { resizable?: boolean; growable?: boolean };
  if (buffer.resizable === true || buffer.growable === true) {
    throw new TypeError('view is over a resizable buffer, whose bytes may move: expose a fixed-length buffer');
  }
  if (!(buffer instanceof SharedArrayBuffer)) markAsUntransferable(buffer);
  const address = addressOf(view);
  const length = view.byteLength;
  const id = nextId++;
  held.set(id, view);
  return {
    pid: process.pid,
    address,
    length,
    get exposed() { return held.has(id); },
    release() { held.delete(id); },
    toJSON() { return { pid: process.pid, address: address.toString(), length }; },
  };
}

/** Reads an ExposedRange back from its JSON form. */
export function parseExposedRange(json: unknown): ExposedRange {
  const o = json as { pid?: unknown; address?: unknown; length?: unknown } | null;
  if (o === null || typeof o !== 'object') throw new TypeError('expected { pid, address, length }');
  const { pid, address, length } = o;
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) throw new TypeError('pid must be a positive integer');
  if (typeof address !== 'string' && typeof address !== 'bigint') throw new TypeError('address must be a decimal string or a bigint');
  if (typeof address === 'string' && !/^\d+$/.test(address)) throw new TypeError(`address must be a decimal string, got '${address}'`);
  if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) throw new RangeError('length must be a non-negative integer');
  return { pid, address: BigInt(address), length };
}
