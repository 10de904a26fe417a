// Large payloads between real processes: through the payload arena (sizes,
// offsets, wrap and reuse of extents, a full arena, corrupt descriptors,
// a peer killed with extents outstanding), in chunks through the ring, and
// mixed with small and CMA messages in one ordered stream.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fdClose, memfdOpen, memfdTruncate, sockSend } from '../native/native.js';
import { NOBODY, otherUidSkip, readableCopy } from '../../test/fixtures/other-uid.js';
import { ChannelClosedError, connect, fork, listen, type Channel, type ChannelOptions, type ForkOptions } from './index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const PEER = path.resolve(here, '../../test/channel-peers/peer.js');
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

/** Pseudo-random integers in [lo, hi], the same every run. */
function randoms(count: number, lo: number, hi: number, seed = 99): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    out.push(lo + (seed % (hi - lo + 1)));
  }
  return out;
}

/** Collects the next `n` messages. */
function collect(ch: Channel, n: number): Promise<unknown[]> {
  const got: unknown[] = [];
  return new Promise((resolve) => {
    const on = (m: unknown): void => {
      got.push(m instanceof Uint8Array ? m.slice() : m);
      if (got.length === n) {
        ch.off('message', on);
        resolve(got);
      }
    };
    ch.on('message', on);
  });
}

/** Collects the next `n` messages as they arrive (no copy); rejects if the channel closes first. */
function collectOrClose(ch: Channel, n: number): Promise<unknown[]> {
  const got: unknown[] = [];
  return new Promise((resolve, reject) => {
    ch.on('message', (m: unknown) => {
      got.push(m);
      if (got.length === n) resolve(got);
    });
    ch.once('close', (reason: string, error?: Error) => reject(new Error(`channel closed (${reason}${error ? `: ${error.message}` : ''}) after ${got.length} of ${n} messages`)));
  });
}

function arenaMaps(): number {
  return readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('memfd:fastbus-arena')).length;
}

async function pair(serverOptions: ChannelOptions, clientOptions: ChannelOptions): Promise<{ server: Channel; client: Channel }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fastbus-large-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const listener = listen(path.join(dir, 'ch.sock'), serverOptions);
  cleanups.push(() => listener.close());
  const accepted = once(listener, 'connection') as Promise<[Channel]>;
  const client = await connect(path.join(dir, 'ch.sock'), clientOptions);
  const [server] = await accepted;
  cleanups.push(() => { void client.close(); void server.close(); });
  return { server, client };
}

describe('channel large payloads', () => {
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it('moves payloads of many sizes through the arena, reusing and wrapping its extents', { timeout: 30_000 }, async () => {
    const options: ChannelOptions = { largeThresholdBytes: 1024, arenaSizeBytes: 64 * 1024, arenaMaxBytes: 64 * 1024 };
    const { channel } = forkPeer('echo', [], options, options);
    const sizes = randoms(300, 1025, 30_000);
    const replies = collect(channel, sizes.length);
    for (let i = 0; i < sizes.length; i++) await channel.send(pattern(sizes[i], i));
    const got = await replies;
    for (let i = 0; i < sizes.length; i++) assert.deepEqual(got[i], pattern(sizes[i], i), `payload ${i} of ${sizes[i]} bytes`);
    assert.equal(channel.stats.arenaTransfers, sizes.length);
    assert.equal(channel.stats.cmaTransfers + channel.stats.memfdTransfers + channel.stats.chunkedTransfers, 0);
    assert.equal(arenaMaps(), 2, 'one arena per direction, reused: 64 KiB held 300 payloads');
    await channel.close();
    assert.equal(arenaMaps(), 0, 'both arenas are unmapped at close');
  });

  it('hands out views of the arena in views mode, and values of any kind', { timeout: 20_000 }, async () => {
    // The peer sends both payloads in one synchronous run (trySend), so the first is still
    // outstanding when the second takes its extent (an idle arena starts again at offset 0).
    const size = 200_000;
    const { channel } = forkPeer('burst', ['2', String(size)], { largeThresholdBytes: 1024, views: true }, { largeThresholdBytes: 1024 });
    const views: Array<{ buffer: ArrayBufferLike; byteOffset: number }> = [];
    const reported = new Promise<unknown>((resolve, reject) => channel.on('message', (m: unknown) => {
      try {
        if (!(m instanceof Uint8Array)) return resolve(m);
        // The live message, as the listener gets it: a view into the peer's arena, not a buffer of its own.
        const i = views.length;
        assert.deepEqual(m, pattern(size, i), `payload ${i}`);
        assert.ok(m.buffer.byteLength >= 8 << 20, `payload ${i} is a view of the 8 MiB arena, not a ${m.buffer.byteLength}-byte copy`);
        views.push({ buffer: m.buffer, byteOffset: m.byteOffset });
      } catch (e) {
        reject(e);
      }
    }));
    assert.deepEqual(await reported, { waits: 0, fruitless: 0, immediates: 0 });
    assert.equal(views.length, 2);
    assert.equal(views[0].buffer, views[1].buffer, 'both payloads are views of the same arena');
    assert.notEqual(views[0].byteOffset, views[1].byteOffset, 'at two extents of it');
    await channel.close();
    // A large value (JSON) through the arena, there and back.
    const echo = forkPeer('echo', [], { largeThresholdBytes: 1024, views: true }, { largeThresholdBytes: 1024 });
    const value = { text: 'é'.repeat(50_000), list: [1, 2, 3] };
    const back = new Promise<unknown>((resolve) => echo.channel.once('message', resolve));
    await echo.channel.send(value);
    assert.deepEqual(await back, value);
    assert.equal(echo.channel.stats.arenaTransfers, 1);
    await echo.channel.close();
  });

  it('gives structured clones typed arrays of their own, not views of the ring, the arena or a mapping', { timeout: 30_000 }, async () => {
    for (const largePayload of ['arena', 'memfd'] as const) {
      // A small ring and arena, so that later messages overwrite the memory earlier ones came through.
      const options: ChannelOptions = { serialization: 'advanced', largeThresholdBytes: 1024, largePayload, arenaSizeBytes: 64 * 1024, views: true };
      const { channel } = forkPeer('echo', [], { ...options, ringSizeBytes: 8192 }, options);
      const sizes = [16, 100, 5000, 20_000];
      const count = 80;
      const replies = new Promise<Array<{ i: number; a: Uint8Array }>>((resolve) => {
        const got: Array<{ i: number; a: Uint8Array }> = [];
        channel.on('message', (m: { i: number; a: Uint8Array }) => { if (got.push(m) === count) resolve(got); });
      });
      for (let i = 0; i < count; i++) await channel.send({ i, a: pattern(sizes[i % sizes.length], i) });
      const got = await replies;
      for (const { i, a } of got) assert.deepEqual(a, pattern(sizes[i % sizes.length], i), `${largePayload}: value ${i}, checked once all arrived`);
      await channel.close();
    }
  });

  it('waits while the arena is full (trySend false, send pending), then makes progress as the peer reads', { timeout: 20_000 }, async () => {
    const options: ChannelOptions = { largeThresholdBytes: 1024, arenaSizeBytes: 64 * 1024, arenaMaxBytes: 64 * 1024 };
    const { child, channel } = forkPeer('late', [], options, options);
    await channel.ready;
    let accepted = 0;
    while (channel.trySend(pattern(20_000, accepted))) accepted++;
    assert.equal(accepted, 3, 'a 64 KiB arena holds three 20 000-byte payloads, no more');
    const pending = [channel.send(pattern(20_000, 3)), channel.send(pattern(20_000, 4)), channel.send('small after')];
    let settled = 0;
    for (const p of pending) void p.then(() => settled++);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, 0, 'sends wait for room in the arena, in order');
    assert.equal(arenaMaps(), 1, 'no second arena beyond arenaMaxBytes');
    const replies = collect(channel, 6);
    child.kill('SIGUSR2');
    await Promise.all(pending);
    const got = await replies;
    for (let i = 0; i < 5; i++) assert.deepEqual(got[i], pattern(20_000, i));
    assert.equal(got[5], 'small after');
    await channel.close();
  });

  it('grows by a second arena for a payload larger than the first', { timeout: 20_000 }, async () => {
    const options: ChannelOptions = { largeThresholdBytes: 1024, arenaSizeBytes: 16 * 1024 };
    const { channel } = forkPeer('echo', [], options, options);
    const replies = collect(channel, 2);
    await channel.send(pattern(10_000, 1));
    await channel.send(pattern(100_000, 2));
    const got = await replies;
    assert.deepEqual(got, [pattern(10_000, 1), pattern(100_000, 2)]);
    assert.equal(arenaMaps(), 4, 'two arenas per direction');
    await channel.close();
  });

  /**
   * Sends one arena payload the client has not read yet, lets `corrupt` change
   * its descriptor in ring 0 ([length][kind] [token][kind][arena id][0][offset f64][length f64]
   * from byte 4096), and returns the server and the client's close reason and error.
   */
  async function corruptArenaDescriptor(corrupt: (descriptor: DataView) => void, deliversNothing: string) {
    const { server, client } = await pair({ largeThresholdBytes: 1024 }, { largeThresholdBytes: 1024 });
    await server.send(pattern(5000, 1)); // in the arena; the client reads nothing yet
    const segment = new DataView((server as unknown as { core: { segment: { buffer: ArrayBuffer } } }).core.segment.buffer);
    assert.equal(segment.getInt32(4096 + 4, true), 6, 'the first frame is the arena descriptor');
    corrupt(new DataView(segment.buffer, 4096 + 8));
    const closing = once(client, 'close') as Promise<[string, Error]>;
    client.on('message', () => assert.fail(deliversNothing));
    const [reason, error] = await closing;
    return { server, reason, error };
  }

  it('closes with a clear error when a peer describes a payload outside its arena', { timeout: 20_000 }, async () => {
    const { server, reason, error } = await corruptArenaDescriptor((d) => d.setFloat64(24, 1e12, true), 'a corrupt descriptor delivers nothing');
    assert.equal(reason, 'error');
    assert.match(error.message, /corrupt arena payload descriptor: 1000000000000 bytes at offset 0 of arena 1/);
    await once(server, 'close');
  });

  it('closes with a clear error when a peer names an arena it never passed', { timeout: 20_000 }, async () => {
    const { reason, error } = await corruptArenaDescriptor((d) => d.setUint32(8, 9, true), 'nothing is delivered from an arena nobody passed');
    assert.equal(reason, 'error');
    assert.match(error.message, /peer put a payload in arena 9 but never passed that arena/);
  });

  it('refuses an arena a peer did not seal against shrinking', { timeout: 20_000 }, async () => {
    const { server, client } = await pair({}, {});
    const fd = memfdOpen('not-sealed', false);
    assert.ok(fd >= 0);
    memfdTruncate(fd, 65536);
    // SOCK_ARENA_FD (2), arena id 1, and the fd: what a sender does, minus the seals.
    sockSend((server as unknown as { core: { sock: number } }).core.sock, [Uint32Array.of(2, 1)], Int32Array.of(fd));
    fdClose(fd);
    client.on('message', () => {});
    const [reason, error] = (await once(client, 'close')) as [string, Error];
    assert.equal(reason, 'error');
    assert.match(error.message, /peer passed arena 1 not sealed against shrinking \(seals 0x1\)/);
    await once(server, 'close');
  });

  it('closes with a reason and no hang when the peer is killed with arena extents outstanding', { timeout: 20_000 }, async () => {
    const { child, channel } = forkPeer('stall', [], { largeThresholdBytes: 1024 });
    await channel.ready;
    for (let i = 0; i < 4; i++) await channel.send(pattern(100_000, i)); // copied: resolves at once
    assert.equal(channel.stats.arenaTransfers, 4);
    const closing = once(channel, 'close') as Promise<[string]>;
    child.kill('SIGKILL');
    const [reason] = await closing;
    assert.equal(reason, 'peer-exited');
    await assert.rejects(channel.send(pattern(100_000, 9)), ChannelClosedError);
    assert.equal(arenaMaps(), 0);
  });

  it('delivers arena payloads a killed sender wrote before it died, then closes', { timeout: 20_000 }, async () => {
    const { child, channel } = forkPeer('send-large', [String(3 << 20)], { stdio: 'pipe', env: { ...process.env, PEER_SAY_SENT: '1' } }, {});
    channel.pause(); // nothing is read until the sender is dead: the payload waits in its arena
    const got = collect(channel, 1);
    const closing = once(channel, 'close') as Promise<[string]>;
    await once(child.stdout!, 'data');
    child.kill('SIGKILL');
    await once(child, 'exit');
    channel.resume();
    const [payload] = await got;
    assert.ok(payload instanceof Uint8Array && payload.length === 3 << 20 && payload.every((b) => b === 7));
    const [reason] = await closing;
    assert.equal(reason, 'peer-exited');
  });

  it('moves payloads in chunks through the ring when forced, keeping order under backpressure', { timeout: 30_000 }, async () => {
    const options: ChannelOptions = { largeThresholdBytes: 1024, largePayload: 'ring' };
    const { channel } = forkPeer('echo', [], { ...options, ringSizeBytes: 16 * 1024 }, options);
    const sizes = randoms(120, 1, 100_000, 7);
    const replies = collect(channel, sizes.length);
    await Promise.all(sizes.map((n, i) => channel.send(i % 3 === 0 ? { i, s: 'x'.repeat(n) } : pattern(n, i))));
    const got = await replies;
    for (let i = 0; i < sizes.length; i++) assert.deepEqual(got[i], i % 3 === 0 ? { i, s: 'x'.repeat(sizes[i]) } : pattern(sizes[i], i));
    assert.ok(channel.stats.chunkedTransfers > 50);
    assert.equal(channel.stats.arenaTransfers + channel.stats.cmaTransfers + channel.stats.memfdTransfers, 0);
    assert.equal(arenaMaps(), 0);
    await channel.close();
  });

  it('sends chunked payloads with trySend and whenWritable, a partly sent one finishing first, received as views', { timeout: 20_000 }, async () => {
    const options: ChannelOptions = { largeThresholdBytes: 1024, largePayload: 'ring' };
    const count = 50, size = 100_000;
    const { channel } = forkPeer('burst', [String(count), String(size)], { ringSizeBytes: 16 * 1024, views: true }, options);
    let got = 0;
    let landing: ArrayBufferLike | null = null;
    const report = new Promise<unknown>((resolve, reject) => channel.on('message', (m: unknown) => {
      if (got === count) return resolve(m);
      try {
        // The live message: each payload whole and its own (interleaved or reordered chunks would mix two patterns).
        assert.ok(m instanceof Uint8Array);
        assert.deepEqual(m, pattern(size, got), `payload ${got}`);
        // Views mode: every payload lands in the same reused buffer, none is a fresh copy.
        landing ??= m.buffer;
        assert.equal(m.buffer, landing, `payload ${got} is in the reused landing buffer`);
      } catch (e) {
        reject(e);
      }
      got++;
    }));
    const { waits } = (await report) as { waits: number };
    assert.equal(got, count);
    assert.ok(waits >= 1, 'the 16 KiB ring made the sender wait in whenWritable');
    assert.equal(channel.stats.messagesReceived, count + 1);
    await channel.close();
  });

  it('falls back to chunks through the ring, with one log line, when CMA is refused and no memfd can be made', { timeout: 20_000 }, async () => {
    const lines: string[] = [];
    const { server, client } = await pair(
      { largeThresholdBytes: 1024, refuseMemfd: true, log: (l) => lines.push(l) },
      { probe: () => ({ ok: false, code: 'EPERM', reason: 'refused for this test' }) },
    );
    const replies = collect(client, 3);
    for (let i = 0; i < 3; i++) await server.send(pattern(300_000 + i, i));
    const got = await replies;
    for (let i = 0; i < 3; i++) assert.deepEqual(got[i], pattern(300_000 + i, i));
    assert.equal(server.stats.chunkedTransfers, 3);
    assert.equal(lines.length, 2, 'one line per refusal');
    assert.match(lines[0], /cannot make a shared payload buffer \(memfd_create failed: ENOMEM.*chunks through the ring/);
    assert.match(lines[1], /cannot use cross-memory attach \(EPERM: refused for this test\); large payloads go by chunks through the ring/);
  });

  it('moves 64 MiB payloads in chunks through the ring, in order and unaltered, to a peer of another uid when CMA and the arena are both refused', { timeout: 120_000 }, async (t) => {
    const skip = otherUidSkip();
    if (skip) return t.skip(skip);
    // The checkout may be out of that uid's reach (a 0700 home): the peer runs from a readable copy.
    const other = readableCopy(['test/channel-peers/peer.js']);
    cleanups.push(other.remove);
    const lines: string[] = [];
    // The peer runs as nobody: it may not read this (root) process, so CMA is refused; no memfd can be made here, so no arena.
    const forked = fork(other.path('test/channel-peers/peer.js'), ['digest'], { ...NOBODY, cwd: other.root, refuseMemfd: true, log: (l) => lines.push(l), env: { ...process.env, PEER_OPTIONS: '{}' } });
    cleanups.push(() => { forked.child.kill('SIGKILL'); void forked.channel.close(); });
    const { channel } = forked;
    const payloads: Array<Uint8Array | string> = [randomBytes(1 << 20), 'between', randomBytes(64 << 20), 'and', randomBytes(64 << 20)];
    const replies = collectOrClose(channel, payloads.length);
    await Promise.all(payloads.map((p) => channel.send(p)));
    const got = await replies;
    assert.deepEqual(got, payloads.map((p) => (typeof p === 'string' ? p : { bytes: p.length, sha256: createHash('sha256').update(p).digest('hex') })));
    assert.equal(channel.stats.chunkedTransfers, 3, 'the three payloads went in chunks through the ring');
    assert.equal(channel.stats.arenaTransfers + channel.stats.cmaTransfers + channel.stats.memfdTransfers, 0);
    assert.equal(lines.length, 2, 'one line per refusal');
    assert.ok(lines.some((l) => /cannot make a shared payload buffer \(memfd_create failed: ENOMEM/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => new RegExp(`peer ${forked.child.pid} cannot use cross-memory attach \\(EPERM`).test(l)), lines.join('\n'));
    await channel.close();
  });

  it('keeps one order across small, arena and pieced messages', { timeout: 30_000 }, async () => {
    const options: ChannelOptions = { largeThresholdBytes: 1024, arenaMaxBytes: 16 << 20 };
    const { channel } = forkPeer('echo', [], options, options);
    await channel.ready;
    const sizes = [10, 5000, 9 << 20, 20, 300_000, 9 << 20, 1000, 2000, 30];
    const replies = collect(channel, sizes.length);
    await Promise.all(sizes.map((n, i) => channel.send(pattern(n, i))));
    const got = await replies;
    for (let i = 0; i < sizes.length; i++) assert.deepEqual(got[i], pattern(sizes[i], i), `message ${i} of ${sizes[i]} bytes`);
    assert.equal(channel.stats.piecedTransfers, 2, 'too large for a 16 MiB arena: in pieces through it');
    assert.equal(channel.stats.cmaTransfers, 0);
    assert.equal(channel.stats.arenaTransfers, 3, 'above the threshold, through the arena');
    await channel.close();
  });
});
