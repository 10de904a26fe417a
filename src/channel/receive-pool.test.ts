// The receive pool: slabs of memory lent as new ArrayBuffers, lent again
// only once V8 freed the last buffer over them, bounded; and channels with
// default options landing large payloads in it, between real processes.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { addressOf } from '../native/native.js';
import { fork, type ChannelOptions, type ForkOptions } from './index.js';
import { ReceivePool, receivePool, slabBytesFor } from './receive-pool.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const PEER = path.resolve(here, '../../test/channel-peers/peer.js');
const MiB = 1 << 20;
const cleanups: Array<() => void> = [];

v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function forkPeer(mode: string, args: string[] = [], options: ForkOptions = {}, peerOptions: ChannelOptions = {}) {
  const forked = fork(PEER, [mode, ...args], { ...options, env: { ...(options.env ?? process.env), PEER_OPTIONS: JSON.stringify(peerOptions) } });
  cleanups.push(() => { forked.child.kill('SIGKILL'); void forked.channel.close(); });
  return forked;
}

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Collects until V8 has given back every buffer the pool lent that nothing holds (the finalizers run on later turns). */
async function collectUntil(done: () => boolean): Promise<void> {
  while (!done()) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('receive pool', () => {
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it('sizes slabs in powers of two up to 2 MiB and in 2 MiB steps above', () => {
    assert.equal(slabBytesFor(1), 64 << 10);
    assert.equal(slabBytesFor(MiB), MiB);
    assert.equal(slabBytesFor(MiB + 1), 2 * MiB);
    assert.equal(slabBytesFor(2 * MiB + 1), 4 * MiB);
    assert.equal(slabBytesFor(64 * MiB), 64 * MiB);
    assert.equal(slabBytesFor(65 * MiB), 66 * MiB);
  });

  it('lends a slab again only once V8 has freed the buffer lent over it, never under a buffer still held', async () => {
    const pool = new ReceivePool(16 * MiB, 0);
    const held = pool.take(MiB)!;
    assert.equal(held.byteLength, MiB);
    assert.equal(held.buffer.byteLength, MiB, 'the buffer is exactly the payload, not the slab');
    held.set(pattern(MiB, 1));
    let dropped: Uint8Array | null = pool.take(MiB)!;
    const droppedAddress = addressOf(dropped);
    assert.notEqual(droppedAddress, addressOf(held));
    dropped.fill(0xee);
    dropped = null;
    await collectUntil(() => pool.stats.free === 1);
    const again = pool.take(MiB)!;
    assert.equal(addressOf(again), droppedAddress, 'the freed slab is lent again');
    again.fill(0x11);
    assert.deepEqual(held, pattern(MiB, 1), 'the held buffer is untouched');
    assert.equal(pool.stats.reuses, 1);
    assert.equal(pool.stats.slabs, 2);
  });

  it('maps a spare slab with the first of 32 MiB or more, so that the next payload lands while the first is held', () => {
    const pool = new ReceivePool(512 * MiB, 0);
    const size = 40 * MiB;
    const first = pool.take(size)!;
    assert.equal(pool.stats.slabs, 2, 'the slab lent and a spare');
    assert.equal(pool.stats.mappedBytes, 2 * slabBytesFor(size));
    const second = pool.take(size)!;
    assert.notEqual(addressOf(second), addressOf(first));
    assert.equal(pool.stats.reuses, 1, 'the second landed in the spare');
    assert.equal(pool.stats.slabs, 2);
    pool.take(MiB);
    assert.equal(pool.stats.slabs, 3, 'no spare for a small slab');
    assert.equal(first.byteLength + second.byteLength, 2 * size);
    const small = new ReceivePool(256 * MiB, 0);
    small.take(size);
    assert.equal(small.stats.slabs, 1, 'no spare beyond an eighth of the bound');
  });

  it('maps at most maxBytes, lends nothing beyond it, and takes slabs back once their buffers are freed', async () => {
    const pool = new ReceivePool(8 * MiB, 0);
    let held: Array<Uint8Array | null> = [];
    for (let i = 0; i < 12; i++) held.push(pool.take(MiB));
    assert.equal(held.filter((b) => b !== null).length, 8);
    assert.equal(pool.stats.mappedBytes, 8 * MiB);
    assert.equal(pool.stats.misses, 4);
    assert.equal(pool.take(3 * MiB), null, 'a payload over a quarter of the bound never takes a slab');
    held = [];
    await collectUntil(() => pool.stats.free === 8);
    for (let i = 0; i < 8; i++) held.push(pool.take(MiB));
    assert.ok(held.every((b) => b !== null));
    assert.equal(pool.stats.mappedBytes, 8 * MiB, 'the same slabs, lent again');
    assert.equal(pool.stats.reuses, 8);
  });

  it('unmaps free slabs on trim, and only free ones', async () => {
    const pool = new ReceivePool(8 * MiB, 0);
    const held = pool.take(MiB)!;
    held.set(pattern(MiB, 7));
    let other: Uint8Array | null = pool.take(2 * MiB);
    assert.ok(other);
    other = null;
    await collectUntil(() => pool.stats.free === 1);
    pool.trim(0);
    assert.equal(pool.stats.slabs, 1);
    assert.equal(pool.stats.mappedBytes, MiB);
    assert.deepEqual(held, pattern(MiB, 7));
  });

  it('never lets a lent buffer be transferred away (it stays the pool\'s memory, lent to its holder)', () => {
    const pool = new ReceivePool(8 * MiB, 0);
    const b = pool.take(MiB)!;
    b.set(pattern(MiB, 3));
    const { port1, port2 } = new MessageChannel();
    try {
      port1.postMessage(b, [b.buffer as ArrayBuffer]);
    } catch {
      // Newer Node throws for an untransferable buffer in the transfer list; Node 20 copies it.
    } finally {
      port1.close();
      port2.close();
    }
    assert.equal(b.byteLength, MiB, 'not detached');
    assert.deepEqual(b, pattern(MiB, 3));
  });

  it('lands default-option payloads in the pool: one held stays unchanged while later ones go through freed slabs', { timeout: 60_000 }, async () => {
    const count = 120;
    const { channel } = forkPeer('burst', [String(count), String(MiB)]);
    const before = receivePool.stats;
    let held: Uint8Array | null = null;
    let i = 0;
    const bad: number[] = [];
    await new Promise<void>((resolve) => channel.on('message', (m: unknown) => {
      if (!(m instanceof Uint8Array)) return resolve();
      if (i === 0) held = m;
      else if (sha256(m) !== sha256(pattern(MiB, i))) bad.push(i);
      i++;
      if (i % 8 === 0) gc(); // buffers dropped so far are freed: their slabs come back on a later turn
    }));
    assert.equal(i, count);
    assert.deepEqual(bad, []);
    const after = receivePool.stats;
    assert.equal(after.lends - before.lends, count, 'every payload landed in a slab');
    assert.ok(after.reuses - before.reuses > 0, 'slabs were lent again while the first payload was held');
    assert.deepEqual(held, pattern(MiB, 0));
    await channel.close();
  });

  for (const size of [MiB, 64 * MiB]) {
    const count = size === MiB ? 40 : 3;
    it(`moves ${size / MiB} MiB payloads in order and unaltered in both directions with default options`, { timeout: 120_000 }, async () => {
      // Child to parent: payload i is pattern(size, i).
      const up = forkPeer('burst', [String(count), String(size)]);
      const got: string[] = [];
      await new Promise<void>((resolve) => up.channel.on('message', (m: unknown) => {
        if (!(m instanceof Uint8Array)) return resolve();
        assert.equal(m.byteLength, size);
        got.push(sha256(m));
      }));
      assert.deepEqual(got, Array.from({ length: count }, (_, i) => sha256(pattern(size, i))));
      await up.channel.close();
      // Parent to child: the child answers each payload with its digest.
      const down = forkPeer('digest');
      const answers: unknown[] = [];
      const all = new Promise<void>((resolve) => down.channel.on('message', (m: unknown) => { if (answers.push(m) === count) resolve(); }));
      for (let i = 0; i < count; i++) await down.channel.send(pattern(size, 100 + i));
      await all;
      assert.deepEqual(answers, Array.from({ length: count }, (_, i) => ({ bytes: size, sha256: sha256(pattern(size, 100 + i)) })));
      await down.channel.close();
    });
  }

  it('keeps a receiver\'s pool within its bound while the listener holds every payload', { timeout: 60_000 }, async () => {
    const { channel } = forkPeer('hold-all', [String(40), String(MiB), String(16 * MiB)]);
    const report = new Promise<unknown>((resolve) => channel.on('message', resolve));
    for (let i = 0; i < 40; i++) await channel.send(pattern(MiB, i));
    await channel.send('report');
    assert.deepEqual(await report, { intact: 40, mappedBytes: 16 * MiB, lends: 16, misses: 24 });
    await channel.close();
  });
});
