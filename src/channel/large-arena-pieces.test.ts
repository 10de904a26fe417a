// Payloads the payload arenas cannot hold whole go through them in pieces
// (large-arena-pieces.ts): in order, unaltered, between other messages, in
// both directions, to receivers with default options and in views mode.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fork, type Channel, type ChannelOptions, type ForkOptions } from './index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const PEER = path.resolve(here, '../../test/channel-peers/peer.js');
const MiB = 1 << 20;
const cleanups: Array<() => void> = [];

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

/** The digest of each of the next `n` messages, taken in the listener (a view is valid only until it returns). */
function digests(ch: Channel, n: number): Promise<string[]> {
  const got: string[] = [];
  return new Promise((resolve) => {
    const on = (m: unknown): void => {
      got.push(m instanceof Uint8Array ? `${m.byteLength}:${sha256(m)}` : JSON.stringify(m));
      if (got.length === n) {
        ch.off('message', on);
        resolve(got);
      }
    };
    ch.on('message', on);
  });
}

describe('large payloads in pieces through the arena', () => {
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it('sends payloads the arenas cannot hold in pieces, in one order with small and arena messages, both ways', { timeout: 60_000 }, async () => {
    // Arenas of at most 1 MiB a direction: the 3 and 5 MiB payloads go in pieces of 256 KiB.
    const options: ChannelOptions = { largeThresholdBytes: 1024, arenaMaxBytes: MiB };
    const { channel } = forkPeer('echo', [], options, options);
    await channel.ready;
    const sizes = [10, (3 << 20) + 17, 500, 100_000, (5 << 20) + 3, 20, (3 << 20) + 1];
    const replies = digests(channel, sizes.length);
    await Promise.all(sizes.map((n, i) => channel.send(pattern(n, i))));
    assert.deepEqual(await replies, sizes.map((n, i) => `${n}:${sha256(pattern(n, i))}`));
    assert.equal(channel.stats.piecedTransfers, 3, 'sent in pieces');
    assert.equal(channel.stats.arenaTransfers, 1, 'the 100 kB one whole through the arena');
    assert.equal(channel.stats.cmaTransfers + channel.stats.memfdTransfers + channel.stats.chunkedTransfers, 0);
    await channel.close();
  });

  it('lands pieced payloads in a buffer the listener owns (default options) and keeps a held one unchanged', { timeout: 60_000 }, async () => {
    const size = 3 * MiB + 5, count = 4;
    const { channel } = forkPeer('burst', [String(count), String(size)], { arenaMaxBytes: MiB }, { arenaMaxBytes: MiB });
    const held: Uint8Array[] = [];
    await new Promise<void>((resolve) => channel.on('message', (m: unknown) => {
      if (!(m instanceof Uint8Array)) return resolve();
      held.push(m);
    }));
    assert.equal(held.length, count);
    held.forEach((m, i) => assert.equal(sha256(m), sha256(pattern(size, i)), `payload ${i}, held until all arrived`));
    await channel.close();
  });

  it('hands pieced payloads to a views-mode receiver, each its own', { timeout: 60_000 }, async () => {
    const size = 2 * MiB + 9, count = 5;
    const { channel } = forkPeer('burst', [String(count), String(size)], { views: true, arenaMaxBytes: MiB }, { arenaMaxBytes: MiB });
    const got = await digests(channel, count);
    assert.deepEqual(got, Array.from({ length: count }, (_, i) => `${size}:${sha256(pattern(size, i))}`));
    await channel.close();
  });

  it('closes without delivering a part of a payload whose sender died between its pieces', { timeout: 30_000 }, async () => {
    // 3 MiB through an arena of 1 MiB: the first pieces fill it, the rest wait for acknowledgements that never come.
    const { child, channel } = forkPeer('send-large', [String(3 << 20)], { stdio: 'pipe', env: { ...process.env, PEER_SAY_SENT: '1' } }, { arenaMaxBytes: MiB });
    channel.pause(); // nothing is read until the sender is dead
    channel.on('message', () => assert.fail('a part of a payload cannot be delivered'));
    await once(child.stdout!, 'data');
    const segment = (channel as unknown as { core: { segment: { buffer: ArrayBuffer; rings: Array<{ tail: number; head: number; data: number }> } } }).core.segment;
    const inbound = segment.rings[1];
    const words = new Int32Array(segment.buffer);
    const waiting = Atomics.load(words, inbound.tail >> 2) - Atomics.load(words, inbound.head >> 2);
    assert.ok(waiting >= 48 && waiting % 48 === 0 && waiting < 12 * 48, `some pieces (48-byte frames), not all twelve, wait in the ring: ${waiting} bytes`);
    assert.equal(words[(inbound.data >> 2) + 1], 9, 'the first frame is a piece (KIND_ARENA_PIECE)');
    const closing = once(channel, 'close') as Promise<[string]>;
    child.kill('SIGKILL');
    await once(child, 'exit');
    channel.resume();
    const [reason] = await closing;
    assert.equal(reason, 'peer-exited');
    assert.equal(channel.stats.messagesReceived, 0);
  });
});
