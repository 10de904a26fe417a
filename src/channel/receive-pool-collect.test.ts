// The receive pool's collections: after a listener dropped its payloads, the
// pool has V8 collect them so that their slabs are lent again to the next
// payload (which waits a few turns for that) rather than new memory being
// faulted in; with real processes, also when the sender dies meanwhile.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { heapAdjustExternal } from '../native/native.js';
import { fork, type ChannelOptions, type ForkOptions } from './index.js';
import { ReceivePool, RECEIVE_POOL_COLLECT_MIN_BYTES, receivePool, slabBytesFor } from './receive-pool.js';
import { collectYoungGeneration } from './young-collection.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const PEER = path.resolve(here, '../../test/channel-peers/peer.js');
const MiB = 1 << 20;
const cleanups: Array<() => void> = [];

function forkPeer(mode: string, args: string[], options: ForkOptions = {}, peerOptions: ChannelOptions = {}) {
  const forked = fork(PEER, [mode, ...args], { ...options, env: { ...(options.env ?? process.env), PEER_OPTIONS: JSON.stringify(peerOptions) } });
  cleanups.push(() => { forked.child.kill('SIGKILL'); void forked.channel.close(); });
  return forked;
}

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function openFds(): Set<string> {
  return new Set(readdirSync('/proc/self/fd').map((fd) => {
    try { return `${fd} ${readlinkSync(`/proc/self/fd/${fd}`)}`; } catch { return ''; } // the listing's own fd
  }));
}

/** Shared mappings of memfds (segments, arenas): the pool's own slabs are private anonymous memory. */
function memfdMappings(): Set<string> {
  return new Set(readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('/memfd:')));
}

/**
 * Waits, sleeping 1 ms at a time (a count, not a time bound: so little is
 * allocated meanwhile that V8 does not collect on its own), until `done()`.
 */
async function sleepUntil(done: () => boolean, sleeps = 5000): Promise<boolean> {
  for (let i = 0; i < sleeps && !done(); i++) await sleep(1);
  return done();
}

describe('receive pool collections', () => {
  const saved = { wait: receivePool.collectWaitMs, fault: receivePool.faultBytesPerMs };
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
    receivePool.collectWaitMs = saved.wait;
    receivePool.faultBytesPerMs = saved.fault;
  });

  it('has V8 collect its young generation, where a buffer the caller dropped is, whose slab then comes back', async () => {
    const pool = new ReceivePool(64 * MiB, 0);
    let dropped: Uint8Array | null = pool.take(4 * MiB)!;
    dropped.fill(7);
    dropped = null;
    let garbage: unknown[] | null = Array.from({ length: 20_000 }, (_, i) => ({ i }));
    garbage = null;
    const young = (): number => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_used_size;
    const before = young();
    pool.collect();
    assert.ok(young() < before / 2, `the young generation was collected (${before} -> ${young()} bytes used)`);
    // V8 tells the pool on a later turn (Node runs such finalizers from its loop).
    assert.ok(await sleepUntil(() => pool.stats.free === 1), 'the slab came back');
    void garbage;
    assert.equal(pool.stats.collects, 1);
  });

  it('tells V8 of external memory, and of so much that it collects at once (the way to collect where gc() cannot be had)', async () => {
    const report = v8.getHeapStatistics().heap_size_limit + 64 * MiB;
    let garbage: object | null = { big: new Array(1000).fill(0) };
    const weak = new WeakRef(garbage);
    garbage = null;
    await new Promise((resolve) => setImmediate(resolve)); // a WeakRef's target lives until its job ends
    assert.ok(heapAdjustExternal(report) >= report, 'the total counts the report');
    assert.ok(heapAdjustExternal(-report) < report, 'and no longer once taken back');
    assert.ok(weak.deref() === undefined, 'collected');
  });

  it('wants a collection only once enough was lent since the last one and no free slab would hold the next payload', async () => {
    const pool = new ReceivePool(256 * MiB, 0);
    pool.faultBytesPerMs = 1e-9; // the minimum decides, whatever the collections take on this machine
    const size = RECEIVE_POOL_COLLECT_MIN_BYTES / 2;
    const held = [pool.take(size)!];
    assert.equal(pool.collectWanted(size), false, 'less than the minimum lent');
    held.push(pool.take(size)!);
    assert.equal(pool.collectWanted(size), true, 'the minimum lent, every slab lent');
    held.pop();
    pool.collect();
    assert.equal(pool.collectWanted(size), false, 'nothing lent since');
    assert.ok(await sleepUntil(() => pool.stats.free === 1));
    held.push(pool.take(size)!, pool.take(size)!);
    assert.equal(pool.stats.slabs, 3, 'the freed slab, then a new one');
    let spare: Uint8Array | null = pool.take(size)!;
    spare = null;
    pool.collect();
    assert.ok(await sleepUntil(() => pool.stats.free === 1));
    held.push(pool.take(size)!, pool.take(size)!);
    assert.equal(pool.collectWanted(size), true);
    assert.equal(pool.collectWanted(64 * MiB + 1), false, 'no slab would hold more than a quarter of the bound');
    assert.equal(held.length, 5);
    void spare;
  });

  it('counts what a collection cost in CPU time, so one that lost the CPU to other jobs does not put off the next', async () => {
    const pool = new ReceivePool(256 * MiB, 0);
    const size = RECEIVE_POOL_COLLECT_MIN_BYTES / 2;
    // 50 ms off the CPU inside the collection (as when other jobs hold it): 50 MB of faults, by the wall clock.
    const parked = new Int32Array(new SharedArrayBuffer(4));
    pool.collector = () => {
      collectYoungGeneration();
      Atomics.wait(parked, 0, 0, 50);
    };
    collectYoungGeneration(); // its first call sets itself up: not what a collection costs
    const held = [pool.take(size)!, pool.take(size)!];
    pool.collect();
    // Twice the minimum lent since: wanted unless the collection is counted at more than 8 ms.
    for (let i = 0; i < 4; i++) held.push(pool.take(size)!);
    assert.equal(pool.collectWanted(size), true, 'enough lent since, every slab lent: the next collection is wanted');
    assert.equal(held.length, 6);
  });

  it('has a payload wait for a lent slab only shortly after a collection, and never when a slab is free', () => {
    const pool = new ReceivePool(256 * MiB, 0, 5);
    const held = pool.take(16 * MiB)!;
    assert.equal(pool.waitWanted(16 * MiB), false, 'no collection yet');
    pool.collect();
    assert.equal(pool.waitWanted(16 * MiB, pool.lastCollectAt), true);
    assert.equal(pool.waitWanted(16 * MiB, pool.lastCollectAt + 5.1), false, 'past collectWaitMs');
    assert.equal(pool.waitWanted(MiB, pool.lastCollectAt + 1), false, 'past half of what faulting a 1 MiB slab in would take');
    assert.equal(pool.waitWanted(32 * MiB + 1, pool.lastCollectAt), false, 'no slab that size is lent');
    assert.equal(pool.stats.waits, 1);
    assert.equal(held.byteLength, 16 * MiB);
  });

  it('lands payloads in order and unaltered, all in one slab, with nothing else mapped while the one before is held (default options)', { timeout: 120_000 }, async () => {
    // Every payload waits until the one before is freed: nothing else is mapped.
    receivePool.collectWaitMs = Infinity;
    receivePool.faultBytesPerMs = 1e-9;
    const size = 12 * MiB, count = 8;
    const before = receivePool.stats;
    // Nothing is read until the sender waits for room (its arenas are full): then each payload's
    // descriptor is in the ring when the one before it has been delivered, and waits for its slab
    // unless the collection gave it back at once (V8 may run the finalizer within a forced collection).
    const { child, channel } = forkPeer('burst', [String(count), String(size)], { stdio: 'pipe', env: { ...process.env, PEER_SAY_WAITING: '1' } });
    await once(child.stdout!, 'data');
    const got: string[] = [];
    await new Promise<void>((resolve) => channel.on('message', (m: unknown) => {
      if (!(m instanceof Uint8Array)) return resolve();
      got.push(sha256(m));
    }));
    assert.deepEqual(got, Array.from({ length: count }, (_, i) => sha256(pattern(size, i))));
    const after = receivePool.stats;
    assert.equal(after.lends - before.lends, count);
    assert.ok(after.collects > before.collects);
    assert.equal(after.mappedBytes - before.mappedBytes, slabBytesFor(size), 'one slab for all');
    await channel.close();
  });

  it('delivers what a dead sender sent while a payload waited for a slab, then closes with nothing left open', { timeout: 120_000 }, async () => {
    // The listener holds every payload, so a waiting one would wait for ever: the peer's death ends the wait.
    receivePool.collectWaitMs = Infinity;
    receivePool.faultBytesPerMs = 1e-9;
    const size = 12 * MiB, count = 6;
    const fdsBefore = openFds();
    const mapsBefore = memfdMappings();
    const waitsBefore = receivePool.stats.waits;
    const { child, channel } = forkPeer('burst', [String(count), String(size)]);
    const held: Uint8Array[] = [];
    channel.on('message', (m: unknown) => { if (m instanceof Uint8Array) held.push(m); });
    const closed = new Promise<unknown>((resolve) => channel.on('close', resolve));
    assert.ok(await sleepUntil(() => receivePool.stats.waits > waitsBefore, 60_000), 'a payload waits');
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGKILL');
    assert.equal(await closed, 'peer-exited');
    await exited;
    assert.ok(held.length >= 2, `the payload that waited was delivered (${held.length})`);
    held.forEach((m, i) => assert.equal(sha256(m), sha256(pattern(size, i)), `payload ${i}`));
    assert.deepEqual([...openFds()].filter((fd) => !fdsBefore.has(fd)), []);
    assert.deepEqual([...memfdMappings()].filter((m) => !mapsBefore.has(m)), [], 'segment and arenas unmapped');
  });
});
