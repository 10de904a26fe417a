import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, fork, listen, type Channel, type ChannelOptions, type ForkOptions } from './index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const PEER = path.resolve(here, '../../test/channel-peers/peer.js');

const cleanups: Array<() => void> = [];

function forkPeer(mode: string, args: string[] = [], options: ForkOptions = {}, peerOptions: ChannelOptions = {}) {
  const forked = fork(PEER, [mode, ...args], { ...options, env: { ...process.env, PEER_OPTIONS: JSON.stringify(peerOptions) } });
  cleanups.push(() => { forked.child.kill('SIGKILL'); void forked.channel.close(); });
  return forked;
}

function nextMessage(ch: Channel): Promise<unknown> {
  return new Promise((resolve) => ch.once('message', resolve));
}

/** This process's open fds, as "fd target" lines. */
function openFds(): Set<string> {
  return new Set(readdirSync('/proc/self/fd').map((fd) => {
    try { return `${fd} ${readlinkSync(`/proc/self/fd/${fd}`)}`; } catch { return ''; } // the listing's own fd
  }).filter((x) => x !== ''));
}

function added(now: Set<string>, before: Set<string>): string[] {
  return [...now].filter((x) => !before.has(x));
}

/** The first line a child prints on its stdout. */
async function firstLine(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return text.split('\n')[0];
}

function tempFiles(contents: string[]): string[] {
  const dir = mkdtempSync(path.join(tmpdir(), 'fastbus-handles-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return contents.map((c, i) => {
    const file = path.join(dir, `f${i}`);
    writeFileSync(file, c);
    return file;
  });
}

describe('channel handles and fds', () => {
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it('hands a listening net.Server to a forked child, which accepts connections on it', { timeout: 20_000 }, async () => {
    const { child, channel } = forkPeer('handles');
    const server = net.createServer(() => assert.fail('the parent no longer accepts'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    const reply = nextMessage(channel);
    await channel.send('take this server', server);
    assert.deepEqual(await reply, { got: 'take this server', handle: 'server', listening: true });
    // The parent stops listening: the port stays open through the child's copy only.
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const client = net.connect(port, '127.0.0.1');
    let answer = '';
    for await (const chunk of client) answer += String(chunk);
    assert.equal(answer, `served by ${child.pid}`);
    await channel.close();
  });

  it('hands a connected net.Socket to a forked child, which reads and writes on it, and destroys the sender\'s copy', { timeout: 20_000 }, async () => {
    const { child, channel } = forkPeer('handles');
    const server = net.createServer();
    cleanups.push(() => server.close());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    cleanups.push(() => client.destroy());
    const [socket] = await accepted;
    const reply = nextMessage(channel);
    await channel.send({ take: 'socket' }, socket);
    assert.equal(socket.destroyed, true, 'passed without keepOpen: the sender\'s copy is gone');
    assert.deepEqual(await reply, { got: { take: 'socket' }, handle: 'socket' });
    client.write('ping');
    const [data] = (await once(client, 'data')) as [Buffer];
    assert.equal(String(data), `child ${child.pid}: ping`);
    assert.equal(channel.stats.handlesSent, 1);
    await channel.close();
  });

  it('passes raw fds, one or several with a message, in order with the messages around them', { timeout: 20_000 }, async () => {
    const { channel } = forkPeer('handles');
    const files = tempFiles(['first', 'second', 'third']);
    const fds = files.map((f) => openSync(f, 'r'));
    const replies: unknown[] = [];
    const all = new Promise<void>((resolve) => channel.on('message', (m) => { if (replies.push(m) === 4) resolve(); }));
    await channel.send('before');
    await channel.send('one', fds[0]);
    await channel.send({ two: true }, [fds[1], fds[2]]);
    await channel.send('after');
    // The peer has its own copies: the sender's fds stay the sender's.
    for (const fd of fds) closeSync(fd);
    await all;
    assert.deepEqual(replies, [
      { got: 'before', handle: 'none' },
      { got: 'one', handle: 'fd', contents: ['first'] },
      { got: { two: true }, handle: 'fds', contents: ['second', 'third'] },
      { got: 'after', handle: 'none' },
    ]);
    await channel.close();
  });

  it('refuses to pass what is not an fd, a socket or a server, and a server that is not listening', async () => {
    const { channel } = forkPeer('handles');
    await assert.rejects(channel.send('x', {} as unknown as number), TypeError);
    await assert.rejects(channel.send('x', -1), TypeError);
    await assert.rejects(channel.send('x', net.createServer()), /not listening/);
    await assert.rejects(channel.send('x', []), RangeError);
    assert.equal(channel.stats.handlesSent, 0);
    await channel.close();
  });

  it('closes the fds in flight when the peer that passed them dies, leaking none', { timeout: 20_000 }, async () => {
    const before = openFds();
    const { child, channel } = forkPeer('send-fds', ['5'], { stdio: 'pipe' });
    // No 'message' listener: the frames stay in the ring and their fds in flight.
    assert.equal(await firstLine(child.stdout!), 'sent 5');
    const closing = once(channel, 'close');
    const childClosed = once(child, 'close'); // its stdio pipes are fds of this process too
    child.kill('SIGKILL');
    const [reason] = await closing;
    assert.equal(reason, 'peer-exited');
    await childClosed;
    assert.deepEqual(added(openFds(), before), []);
  });

  it('closes, in the receiver, the fds of messages it never delivered before the channel closed', { timeout: 20_000 }, async () => {
    const { child, channel } = forkPeer('fd-count', [], { stdio: 'pipe' });
    await channel.ready; // the child has its end: it sees the close
    const files = tempFiles(['a', 'b', 'c']);
    for (const f of files) {
      const fd = openSync(f, 'r');
      await channel.send(f, fd);
      closeSync(fd);
    }
    assert.equal(channel.stats.handlesSent, 3);
    const line = firstLine(child.stdout!);
    await channel.close();
    assert.equal(await line, 'extra 0');
  });

  it('drops the handles of a message that failed after they went, so that the next message does not get them', { timeout: 20_000 }, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fastbus-handles-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const server = listen(path.join(dir, 'ch.sock'), { largeThresholdBytes: 1024, largePayload: 'cma' });
    cleanups.push(() => server.close());
    const accepted = once(server, 'connection') as Promise<[Channel]>;
    // The client cannot read the server by CMA: a large payload forced to CMA fails once its handles went.
    const client = await connect(path.join(dir, 'ch.sock'), { probe: () => ({ ok: false, code: 'EPERM', reason: 'refused for this test' }) });
    cleanups.push(() => void client.close());
    const [serverSide] = await accepted;
    await serverSide.ready;
    const before = openFds();
    const fd = openSync(tempFiles(['x'])[0], 'r');
    await assert.rejects(serverSide.send(new Uint8Array(10_000), fd), /forced to cross-memory attach/);
    closeSync(fd);
    assert.equal(serverSide.stats.handlesSent, 1, 'the handle went before the payload failed');
    const next = new Promise<unknown[]>((resolve) => client.once('message', (...args: unknown[]) => resolve(args)));
    await serverSide.send('next');
    assert.deepEqual(await next, ['next']);
    assert.deepEqual(added(openFds(), before), [], 'the dropped fd is closed in the receiver');
    await serverSide.close();
  });
});
