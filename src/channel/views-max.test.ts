// Views mode with viewsMaxBytes: byte messages up to the bound are views,
// valid while the listener runs; larger ones are the listener's own buffers
// from the receive pool, as with default options (the direct path reads D-Bus
// messages this way and decodes large `ay` values in place). Real processes.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fork, type ChannelOptions } from './index.js';
import { receivePool } from './receive-pool.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const PEER = path.resolve(here, '../../test/channel-peers/peer.js');
const cleanups: Array<() => void> = [];

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** Every byte message from a 'burst' peer sending `count` payloads of `size` bytes, as delivered. */
async function burst(count: number, size: number, options: ChannelOptions, onMessage: (m: Uint8Array, i: number) => void): Promise<void> {
  const forked = fork(PEER, ['burst', String(count), String(size)], options);
  cleanups.push(() => { forked.child.kill('SIGKILL'); void forked.channel.close(); });
  let i = 0;
  await new Promise<void>((resolve) => forked.channel.on('message', (m: unknown) => {
    if (!(m instanceof Uint8Array)) return resolve();
    onMessage(m, i++);
  }));
  assert.equal(i, count);
  await forked.channel.close();
}

describe('views up to viewsMaxBytes', () => {
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });
  const options: ChannelOptions = { views: true, viewsMaxBytes: 64 << 10 };

  it('hands out messages up to the bound as views of the ring', async () => {
    await burst(20, 1024, options, (m, i) => {
      assert.ok(m.buffer.byteLength > m.byteLength, 'a view into the segment');
      assert.deepEqual(m, pattern(1024, i));
    });
  });

  it('hands out larger ones as buffers of their own from the receive pool, which later messages leave alone', { timeout: 60_000 }, async () => {
    const size = 1 << 20, count = 12;
    const lends = receivePool.stats.lends;
    const kept: Uint8Array[] = [];
    await burst(count, size, options, (m) => {
      assert.equal(m.buffer.byteLength, size, 'a buffer of its own');
      kept.push(m);
    });
    assert.equal(receivePool.stats.lends - lends, count, 'each landed in the pool');
    kept.forEach((m, i) => assert.ok(Buffer.from(m).equals(Buffer.from(pattern(size, i))), `payload ${i} unaltered after the later ones`));
  });
});
