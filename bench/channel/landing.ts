// Where a received large payload lands, measured in one process: the same
// copy (Uint8Array.set of 1 MiB or 64 MiB) into a buffer kept warm, into a
// new Buffer.allocUnsafeSlow each time (what a default receiver did before
// the receive pool), into a new mapping faulted in at once each time, and
// into a buffer lent from a receive pool (a new ArrayBuffer over a slab each
// time, dropped at once, as a listener that does not keep it). The event
// loop turns after each payload, as the channel's does, so that freed
// buffers come back. Part 'landing' of `npm run bench -- channel`.
import { performance } from 'node:perf_hooks';
import { ReceivePool } from '../../src/channel/receive-pool.js';
import * as native from '../../src/native/native.js';
import type { Row, Table } from '../harness.js';

const MiB = 1 << 20;

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** GB/s of `n` copies of `size` bytes into what `target()` gives each time. */
async function rate(size: number, n: number, target: () => Uint8Array): Promise<number> {
  const src = new Uint8Array(size).fill(5);
  target().set(src); // untimed: a warm buffer is warm, a pool has its first slab
  await turn();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    target().set(src);
    await turn();
  }
  return size * n / ((performance.now() - t0) / 1000) / 1e9;
}

function populated(size: number): Uint8Array {
  const region = native.anonMap(size);
  native.anonAdvise(region, native.MADV_POPULATE_WRITE);
  return new Uint8Array(native.anonLend(region, size));
}

/** One repetition of each row into `rows`, for 1 MiB (n1 copies) and 64 MiB (n64). */
export async function landingRound(rows: { [size: number]: Record<string, Row> }, n1: number, n64: number): Promise<void> {
  for (const [size, n] of [[MiB, n1], [64 * MiB, n64]] as const) {
    const r = rows[size];
    const warm = new Uint8Array(size);
    r.warm.samples.push(await rate(size, n, () => warm));
    r.fresh.samples.push(await rate(size, n, () => new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, size)));
    r.populated.samples.push(await rate(size, n, () => populated(size)));
    const pool = new ReceivePool();
    r.pool.samples.push(await rate(size, n, () => pool.take(size) ?? new Uint8Array(size)));
    pool.trim(0);
  }
}

export function landingRows(): { [size: number]: Record<string, Row> } {
  const make = (label: string): Row => ({ label, samples: [], unit: 'GB/s', higherIsBetter: true });
  const set = (): Record<string, Row> => ({
    warm: make('into a buffer kept warm'),
    fresh: make('into a new Buffer.allocUnsafeSlow each time'),
    populated: make('into a new mapping each time, faulted in at once (MADV_POPULATE_WRITE)'),
    pool: make('into a buffer lent from a receive pool each time'),
  });
  return { [MiB]: set(), [64 * MiB]: set() };
}

export function landingTables(rows: { [size: number]: Record<string, Row> }, n1: number, n64: number): Table[] {
  return [MiB, 64 * MiB].map((size) => ({
    title: `Where a received payload lands, ${size / MiB} MiB (one process)`,
    rows: Object.values(rows[size]),
    baseline: rows[size].warm.label,
    note: `${size === MiB ? n1 : n64} copies per sample (Uint8Array.set), the event loop turning after each; each buffer but the warm one is dropped at once`,
  }));
}
