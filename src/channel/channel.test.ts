import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { exposedCount } from '../cma/index.js';
import { NOBODY, otherUidSkip, readableCopy } from '../../test/fixtures/other-uid.js';
import { Channel, ChannelClosedError, connect, fork, listen, type ChannelOptions, type ForkOptions } from './index.js';
import { settingsFrom } from './channel-options.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const PEER = path.resolve(here, '../../test/channel-peers/peer.js');

// Whatever a test leaves behind (when it fails) is cleaned up after it.
const cleanups: Array<() => void> = [];

function forkPeer(mode: string, args: string[] = [], options: ForkOptions = {}, peerOptions: ChannelOptions = {}, script = PEER) {
  const forked = fork(script, [mode, ...args], { ...options, env: { ...(options.env ?? process.env), PEER_OPTIONS: JSON.stringify(peerOptions) } });
  cleanups.push(() => { forked.child.kill('SIGKILL'); void forked.channel.close(); });
  return forked;
}

function nextMessage(ch: Channel): Promise<unknown> {
  return new Promise((resolve) => ch.once('message', resolve));
}

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

async function closed(ch: Channel): Promise<[string, Error | undefined]> {
  return (await once(ch, 'close')) as [string, Error | undefined];
}

function tempSocket(): { dir: string; sock: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'fastbus-channel-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, sock: path.join(dir, 'ch.sock') };
}

function track<T extends { close(): unknown }>(x: T): T {
  cleanups.push(() => void x.close());
  return x;
}

describe('channel', () => {
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it('rejects ready, and closes, when the forked child exits before the handshake', { timeout: 20_000 }, async () => {
    const { child, channel } = forkPeer('echo', [], { stdio: 'ignore' }, {}, path.join(here, 'no-such-peer.js'));
    const [code] = await once(child, 'exit') as [number];
    assert.equal(code, 1);
    await assert.rejects(channel.ready, (e: unknown) => e instanceof ChannelClosedError && e.reason === 'peer-exited');
  });

  it('delivers bytes and values in order to a forked child and back', { timeout: 20_000 }, async () => {
    const { channel } = forkPeer('echo');
    const got: unknown[] = [];
    channel.on('message', (m) => got.push(m));
    const sent: unknown[] = [{ a: 1, s: 'héllo ✓' }, pattern(3, 1), 'text', 42, [1, [2, null]], pattern(5000, 2)];
    for (const m of sent) await channel.send(m);
    while (got.length < sent.length) await once(channel, 'message');
    assert.deepEqual(got.map((m) => (m instanceof Uint8Array ? Array.from(m) : m)), sent.map((m) => (m instanceof Uint8Array ? Array.from(m) : m)));
    channel.send('exit').catch(() => {});
    const [reason] = await closed(channel);
    assert.equal(reason, 'peer-exited');
  });

  it('sends structured clones with the advanced serialization', { timeout: 20_000 }, async () => {
    const { channel } = forkPeer('echo', [], { serialization: 'advanced' }, { serialization: 'advanced' });
    const value = { when: new Date(5), map: new Map([[1, 'one']]), big: 10n ** 20n };
    const reply = nextMessage(channel);
    await channel.send(value);
    assert.deepEqual(await reply, value);
    await channel.close();
  });

  it('keeps order and content across ring wrap-around at many offsets with random sizes', { timeout: 30_000 }, async () => {
    const count = 3000;
    const { channel } = forkPeer('flood', [String(count), '1000'], { ringSizeBytes: 4096 });
    let expected = 0;
    const done = new Promise<void>((resolve, reject) => {
      channel.on('message', (m) => {
        if (m === 'done') return resolve();
        try {
          assert.ok(m instanceof Uint8Array);
          const seq = new DataView(m.buffer, m.byteOffset).getUint32(0, true);
          assert.equal(seq, expected);
          for (let i = 4; i < m.length; i++) if (m[i] !== (seq & 0xff)) assert.fail(`message ${seq} corrupt at byte ${i}`);
          expected++;
        } catch (e) {
          reject(e);
        }
      });
    });
    await done;
    assert.equal(expected, count);
    await channel.close();
  });

  it('moves large payloads by cross-memory attach when forced on', { timeout: 20_000 }, async () => {
    const { channel } = forkPeer('echo', [], { largePayload: 'cma', largeThresholdBytes: 4096 }, { largePayload: 'cma', largeThresholdBytes: 4096 });
    const big = pattern(3 << 20, 7);
    const reply = nextMessage(channel);
    const before = exposedCount();
    await channel.send(big);
    assert.equal(exposedCount(), before, 'the buffer is released once the peer acknowledged');
    assert.deepEqual(await reply, big);
    assert.equal(channel.stats.cmaTransfers, 1);
    assert.equal(channel.stats.memfdTransfers, 0);
    const value = { text: 'x'.repeat(100_000) };
    const reply2 = nextMessage(channel);
    await channel.send(value);
    assert.deepEqual(await reply2, value);
    await channel.close();
  });

  it('lets whenWritable wait for acknowledgements of large payloads, without spinning', { timeout: 20_000 }, async () => {
    const count = 200, size = 128 * 1024;
    // Nothing is read until the sender says it waits in whenWritable: its arena (8 MiB) is full by then.
    const { child, channel } = forkPeer('burst', [String(count), String(size)], { stdio: 'pipe', env: { ...process.env, PEER_SAY_WAITING: '1' } });
    await once(child.stdout!, 'data');
    let got = 0;
    const report = new Promise<{ waits: number; fruitless: number; immediates: number }>((resolve, reject) => channel.on('message', (m) => {
      if (got === count) return resolve(m as { waits: number; fruitless: number; immediates: number });
      try {
        assert.ok(m instanceof Uint8Array && m.length === size);
        assert.deepEqual(m, pattern(size, got), `payload ${got}`);
      } catch (e) {
        reject(e);
      }
      got++;
    }));
    const { waits, fruitless, immediates } = await report;
    assert.equal(got, count);
    assert.ok(waits >= 1, 'the sender awaited whenWritable');
    // Woken once per batch of acknowledgements (half the arena or half the in-flight slots), never to find no room.
    // A wake-up per payload would be about count - 64 (the arena holds 64 payloads); batches give about count / 32,
    // more when the receiver is descheduled mid-batch and acknowledges less at a time (13 seen on a loaded machine),
    // so the bound sits between the two.
    assert.ok(waits <= count / 4, `the sender awaited whenWritable ${waits} times for ${count} payloads: one wake-up per payload, not per batch`);
    assert.equal(fruitless, 0, 'each wake-up found room');
    assert.equal(immediates, 0, 'nothing polled while the sender waited');
    await channel.close();
  });

  it('moves large payloads by memfd handoff when CMA is forced off', { timeout: 20_000 }, async () => {
    const { channel } = forkPeer('echo', [], { largePayload: 'memfd', largeThresholdBytes: 4096 }, { largePayload: 'memfd', largeThresholdBytes: 4096 });
    const big = pattern(2 << 20, 9);
    const replies: unknown[] = [];
    channel.on('message', (m) => replies.push(m));
    for (let i = 0; i < 3; i++) await channel.send(big);
    while (replies.length < 3) await once(channel, 'message');
    for (const r of replies) assert.deepEqual(r, big);
    assert.equal(channel.stats.cmaTransfers, 0);
    assert.equal(channel.stats.memfdTransfers, 3);
    await channel.close();
  });

  it('sends payloads the arena cannot hold in pieces through it when the peer cannot use CMA: no fallback, no log line', { timeout: 20_000 }, async () => {
    const { dir, sock } = tempSocket();
    const lines: string[] = [];
    const server = track(listen(sock, { largeThresholdBytes: 1024, arenaMaxBytes: 1 << 20, log: (l) => lines.push(l) }));
    const accepted = once(server, 'connection') as Promise<[Channel]>;
    const client = track(await connect(sock, { probe: () => ({ ok: false, code: 'EPERM', reason: 'refused for this test' }) }));
    const [serverSide] = await accepted;
    const got: unknown[] = [];
    client.on('message', (m) => got.push(m));
    // Too large for a 1 MiB arena: in pieces through it, which needs no CMA.
    const sizes = [3 << 20, 10_000, 3 << 20];
    for (let i = 0; i < 3; i++) await serverSide.send(pattern(sizes[i], i));
    while (got.length < 3) await once(client, 'message');
    for (let i = 0; i < 3; i++) assert.deepEqual(got[i], pattern(sizes[i], i));
    assert.equal(serverSide.stats.piecedTransfers, 2);
    assert.equal(serverSide.stats.arenaTransfers, 1);
    assert.equal(serverSide.stats.cmaTransfers + serverSide.stats.memfdTransfers + serverSide.stats.chunkedTransfers, 0);
    assert.deepEqual(lines, []);
    await Promise.all([serverSide.close(), once(client, 'close')]);
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends a payload the arena cannot hold in pieces to a peer of another uid, which the kernel refuses CMA', { timeout: 20_000 }, async (t) => {
    const skip = otherUidSkip();
    if (skip) return t.skip(skip);
    // The checkout may be out of that uid's reach (a 0700 home): the peer runs from a readable copy.
    const other = readableCopy(['test/channel-peers/peer.js']);
    cleanups.push(other.remove);
    const lines: string[] = [];
    const forked = fork(other.path('test/channel-peers/peer.js'), ['echo'], {
      ...NOBODY, cwd: other.root, largeThresholdBytes: 1024, arenaMaxBytes: 1 << 20, log: (l) => lines.push(l),
      env: { ...process.env, PEER_OPTIONS: JSON.stringify({ largeThresholdBytes: 1024 }) },
    });
    cleanups.push(() => { forked.child.kill('SIGKILL'); void forked.channel.close(); });
    const { channel } = forked;
    await channel.ready;
    const reply = nextMessage(channel);
    await channel.send(pattern(3 << 20, 6));
    assert.deepEqual(await reply, pattern(3 << 20, 6));
    assert.equal(channel.stats.piecedTransfers, 1, 'too large for a 1 MiB arena: in pieces through it');
    assert.equal(channel.stats.cmaTransfers + channel.stats.memfdTransfers, 0, 'nobody may not read root: no CMA');
    assert.deepEqual(lines, []);
    await channel.close();
  });

  it('rejects a large send forced to CMA when the peer cannot use it', { timeout: 20_000 }, async () => {
    const { dir, sock } = tempSocket();
    const server = track(listen(sock, { largeThresholdBytes: 1024, largePayload: 'cma' }));
    const accepted = once(server, 'connection') as Promise<[Channel]>;
    const client = track(await connect(sock, { probe: () => ({ ok: false, code: 'EPERM', reason: 'refused for this test' }) }));
    const [serverSide] = await accepted;
    await assert.rejects(serverSide.send(pattern(10_000, 1)), /forced to cross-memory attach.*refused for this test/);
    assert.equal(serverSide.trySend('small still works'), true);
    client.on('message', () => {});
    await serverSide.close();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives backpressure on a stalled consumer, then rejects pending sends when the peer is killed', { timeout: 20_000 }, async () => {
    const { child, channel } = forkPeer('stall', [], { ringSizeBytes: 64 * 1024 });
    await channel.ready;
    const msg = pattern(1000, 3);
    let accepted = 0;
    while (channel.trySend(msg)) accepted++;
    assert.ok(accepted > 0 && accepted * 1008 <= 64 * 1024, `the ring took ${accepted} messages, no more than it holds`);
    const pending = channel.send(msg);
    let settled = false;
    pending.then(() => { settled = true; }, () => { settled = true; });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false, 'send waits while the ring is full');
    child.kill('SIGKILL');
    await assert.rejects(pending, (e: unknown) => e instanceof ChannelClosedError && e.reason === 'peer-exited');
    const [reason] = await closed(channel);
    assert.equal(reason, 'peer-exited');
    assert.throws(() => channel.trySend(msg), ChannelClosedError);
  });

  it('releases a large payload and rejects its send when the receiver dies before pulling it', { timeout: 20_000 }, async () => {
    const base = exposedCount();
    const { child, channel } = forkPeer('stall', [], { largeThresholdBytes: 1024, largePayload: 'cma' });
    await channel.ready;
    const before = exposedCount();
    const pending = channel.send(pattern(1 << 20, 4));
    assert.equal(exposedCount(), before + 1, 'the payload stays exposed until the peer pulls it');
    child.kill('SIGKILL');
    await assert.rejects(pending, (e: unknown) => e instanceof ChannelClosedError && e.reason === 'peer-exited');
    assert.equal(exposedCount(), base, 'the payload and the probe buffer are released');
  });

  it('closes without a hang when the sender of a large payload is killed before it is pulled', { timeout: 20_000 }, async () => {
    const { child, channel } = forkPeer('send-large', [String(8 << 20)], { largeThresholdBytes: 1024, stdio: 'pipe', env: { ...process.env, PEER_SAY_SENT: '1' } }, { largeThresholdBytes: 1024, largePayload: 'cma' });
    // Paused: the descriptor waits in the ring, unread, until the sender is dead.
    channel.pause();
    channel.on('message', () => assert.fail('a payload from a dead sender cannot be delivered'));
    const [said] = (await once(child.stdout!, 'data')) as [Buffer];
    const sent = JSON.parse(String(said).replace(/^sent /, '')) as { cmaTransfers: number };
    assert.equal(sent.cmaTransfers, 1, 'the sender put its payload out by CMA');
    const segment = (channel as unknown as { core: { segment: { buffer: ArrayBuffer; rings: Array<{ tail: number; head: number; data: number }> } } }).core.segment;
    const inbound = segment.rings[1];
    const words = new Int32Array(segment.buffer);
    assert.equal(Atomics.load(words, inbound.tail >> 2) - Atomics.load(words, inbound.head >> 2), 8 + 24, 'one 24-byte frame waits in the ring');
    assert.equal(words[(inbound.data >> 2) + 1], 4, 'the frame is a CMA descriptor (KIND_LARGE_CMA)');
    const closing = closed(channel);
    child.kill('SIGKILL');
    await once(child, 'exit');
    channel.resume(); // now the receiver reads the descriptor and tries to pull from a process that is gone
    const [reason] = await closing;
    assert.equal(reason, 'peer-exited');
    assert.equal(channel.stats.messagesReceived, 0);
  });

  it('connects unrelated processes through listen and connect', { timeout: 20_000 }, async () => {
    const { dir, sock } = tempSocket();
    const server = track(listen(sock));
    const accepted = once(server, 'connection') as Promise<[Channel]>;
    const child = spawn(process.execPath, [PEER, 'connect', sock], { stdio: 'inherit' });
    cleanups.push(() => child.kill('SIGKILL'));
    const [channel] = await accepted;
    assert.equal(channel.peerPid, child.pid);
    const reply = nextMessage(channel);
    await channel.send({ over: 'listen' });
    assert.deepEqual(await reply, { over: 'listen' });
    channel.send('close').catch(() => {});
    const [reason] = await closed(channel);
    assert.equal(reason, 'peer-closed');
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // Two ends that never sleep share the machine's cores with everything else: on a loaded 2-core
  // machine one round trip can take a scheduler slice, hence few in busy mode and a generous watchdog.
  const waits: Array<[string, ChannelOptions, number]> = [
    ['with a polling window after a wake-up (the default, pollUs: 50)', {}, 100],
    ['sleeping at once (pollUs: 0)', { pollUs: 0 }, 100],
    ['in busy mode', { busy: true }, 10],
    ['with a spin before sleeping', { spinUs: 50 }, 100],
  ];
  for (const [how, options, count] of waits) {
    it(`round-trips ${how}`, { timeout: 90_000 }, async () => {
      const { channel } = forkPeer('echo', [], options, options);
      for (let i = 0; i < count; i++) {
        const reply = nextMessage(channel);
        await channel.send(i);
        assert.equal(await reply, i);
      }
      await channel.close();
    });
  }

  it('refuses a polling window that is not a whole number of microseconds up to one second', () => {
    for (const bad of [-1, 1.5, 1_000_001, Number.NaN]) assert.throws(() => settingsFrom({ pollUs: bad }, 1 << 20), RangeError);
    assert.equal(settingsFrom({}, 1 << 20).pollUs, 50);
    assert.equal(settingsFrom({ pollUs: 0 }, 1 << 20).pollUs, 0);
  });

  it('yields messages by async iteration in order, ending at close', { timeout: 20_000 }, async () => {
    const { dir, sock } = tempSocket();
    const server = track(listen(sock));
    const accepted = once(server, 'connection') as Promise<[Channel]>;
    const client = track(await connect(sock));
    const [serverSide] = await accepted;
    const n = 3000;
    const sending = (async () => {
      for (let i = 0; i < n; i++) await serverSide.send(i);
      await serverSide.close();
    })();
    const got: unknown[] = [];
    for await (const m of client) got.push(m);
    await sending;
    assert.deepEqual(got, Array.from({ length: n }, (_, i) => i));
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the channel fds of a forked child out of the programs that child starts', { timeout: 20_000 }, async () => {
    const { channel } = forkPeer('grandchild');
    const listing = String(await nextMessage(channel));
    // The grandchild's listing itself proves the check ran: it shows its stdio.
    assert.match(listing, / 0 -> /);
    // Its stdio are execFileSync's own sockets; beyond them, no socket, segment or doorbell.
    const inherited = [...listing.matchAll(/ (\d+) -> (\S+)/g)].filter(([, fd]) => Number(fd) > 2).map(([, fd, target]) => `${fd} -> ${target}`);
    for (const line of inherited) assert.doesNotMatch(line, /socket:|memfd:|eventfd/, `grandchild inherited ${line}`);
    await channel.close();
  });

  it('closes the fds a forked child inherited when its channel refuses its options', { timeout: 20_000 }, async () => {
    const { child, channel } = forkPeer('bad-options', [], { stdio: 'pipe' });
    const closing = closed(channel);
    let out = '';
    for await (const chunk of child.stdout!) out += String(chunk);
    assert.equal(out.trim(), 'RangeError open []');
    assert.equal((await closing)[0], 'peer-exited');
  });

  it('frees the segment, doorbells and socket of both ends at close', { timeout: 20_000 }, async () => {
    const fds = (): Set<string> => new Set(readdirSync('/proc/self/fd').map((fd) => {
      try { return `${fd} ${readlinkSync(`/proc/self/fd/${fd}`)}`; } catch { return ''; } // the listing's own fd
    }).filter((x) => x !== ''));
    const maps = (): Set<string> => new Set(readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('memfd:fastbus-channel')));
    const added = <T>(now: Set<T>, before: Set<T>): T[] => [...now].filter((x) => !before.has(x));
    const { dir, sock } = tempSocket();
    const server = track(listen(sock));
    const fdsBefore = fds();
    const mapsBefore = maps();
    const accepted = once(server, 'connection') as Promise<[Channel]>;
    const client = track(await connect(sock));
    const [serverSide] = await accepted;
    assert.equal(added(maps(), mapsBefore).length, 2, 'each end maps the segment');
    assert.ok(added(fds(), fdsBefore).some((l) => l.includes('memfd:fastbus-channel')));
    await Promise.all([client.close(), closed(serverSide)]);
    assert.deepEqual(added(maps(), mapsBefore), []);
    assert.deepEqual(added(fds(), fdsBefore), []);
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
