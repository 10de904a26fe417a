import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as native from '../native/native.js';
import { ProtocolError } from '../errors.js';
import { parseBusAddress } from './bus-address.js';
import { connectBus } from './connect.js';
import { authenticateServer } from './handshake.js';
import { openListener, type AcceptedConnection } from './listener.js';
import type { MessageStream } from './message-stream.js';
import { newGuid } from './sasl-server.js';
import { frame, serialOf } from '../../test/fixtures/frames.js';

async function pair(address: string): Promise<{ server: MessageStream; client: MessageStream; close(): void; unixFd: boolean }> {
  let accepted!: (c: AcceptedConnection) => void;
  const got = new Promise<AcceptedConnection>((r) => { accepted = r; });
  const listener = await openListener(parseBusAddress(address)[0], (c) => accepted(c));
  const guid = newGuid();
  const connecting = connectBus([listener.address]);
  const conn = await got;
  const auth = authenticateServer(conn.stream, {
    guid, peerUid: conn.credentials?.uid, allowUid: (u) => u === process.getuid!(), allowAnonymous: conn.credentials === undefined, unixFdCapable: conn.stream.fdCapable,
  });
  const [client] = await Promise.all([connecting, auth]);
  queueMicrotask(() => { client.stream.resume(); conn.stream.resume(); });
  assert.equal(client.guid, guid);
  const close = (): void => { listener.close(); client.stream.close(); conn.stream.close(); };
  open.push(close);
  return { server: conn.stream, client: client.stream, unixFd: client.unixFd, close };
}

/** Every pair opened, closed after the suite even when a test failed (open sockets would keep the test process alive). */
const open: Array<() => void> = [];

function collect(stream: MessageStream, count: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  return new Promise((resolve) => {
    stream.onMessage = (f) => { out.push(f); if (out.length === count) resolve(out); };
  });
}

describe('message streams', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fastbus-transport-'));
  after(() => { for (const close of open) close(); });

  it('carries many messages per system call, in order, over a unix path socket', { timeout: 10000 }, async () => {
    const p = await pair(`unix:path=${path.join(dir, 's1')}`);
    assert.equal(p.unixFd, true);
    const got = collect(p.server, 2000);
    for (let i = 1; i <= 2000; i++) p.client.send(frame(i, i % 300));
    const frames = await got;
    frames.forEach((f, i) => {
      assert.equal(serialOf(f), i + 1);
      assert.equal(f.length, 16 + ((i + 1) % 300));
    });
    p.close();
  });

  it('carries a 16 MiB message whole, and those around it', { timeout: 20000 }, async () => {
    const p = await pair(`unix:abstract=fastbus-test-${process.pid}-${Date.now()}`);
    const got = collect(p.server, 3);
    p.client.send(frame(1, 10));
    p.client.send(frame(2, 16 * 1024 * 1024, 0xab));
    p.client.send(frame(3, 10));
    const [a, big, c] = await got;
    assert.equal(a.length, 26);
    assert.equal(big.length, 16 + 16 * 1024 * 1024);
    assert.equal(big[big.length - 1], 0xab);
    assert.equal(c.length, 26);
    p.close();
  });

  it('tells the sender once queued bytes are written, and when a close drops them', { timeout: 10000 }, async () => {
    const p = await pair(`unix:path=${path.join(dir, 's7')}`);
    const got = collect(p.server, 3);
    const written: number[] = [];
    for (let i = 1; i <= 3; i++) p.client.send(frame(i, 1000 * i), undefined, false, () => written.push(i));
    assert.equal(written.length, 0);
    await got;
    assert.deepEqual(written, [1, 2, 3]);
    // Queued and not yet written when the stream closes: close() lets them go.
    for (let i = 4; i <= 11; i++) p.client.send(frame(i, 64 * 1024), undefined, false, () => written.push(i));
    assert.ok(p.client.queuedBytes > 0);
    p.client.close();
    assert.deepEqual(written, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    p.close();
  });

  it('keeps unix fds with the message that carries them', { timeout: 10000 }, async () => {
    const p = await pair(`unix:path=${path.join(dir, 's2')}`);
    const efd1 = native.check(native.efdOpen(0), 'eventfd');
    const efd2 = native.check(native.efdOpen(0), 'eventfd');
    const results: number[][] = [];
    const done = new Promise<void>((resolve) => {
      let n = 0;
      p.server.onMessage = (f) => {
        const want = f[16];
        results.push(p.server.takeFds(want));
        if (++n === 4) resolve();
      };
    });
    p.client.send(frame(1, 1, 0));
    p.client.send(frame(2, 1, 1), [efd1]);
    p.client.send(frame(3, 1, 0));
    p.client.send(frame(4, 1, 2), [efd1, efd2], false);
    await done;
    assert.deepEqual(results.map((r) => r.length), [0, 1, 0, 2]);
    native.efdSignal(efd2, 5);
    assert.equal(native.efdDrain(results[3][1]), 5);
    for (const fd of [efd1, efd2, ...results.flat()]) native.fdClose(fd);
    p.close();
  });

  it('closes the fds that arrived but no message took when the stream closes, after messages without fds', { timeout: 10000 }, async () => {
    const p = await pair(`unix:path=${path.join(dir, 's2b')}`);
    const efd = native.check(native.efdOpen(0), 'eventfd');
    let n = 0;
    const done = new Promise<void>((resolve) => { p.server.onMessage = () => { if (++n === 2) resolve(); }; });
    p.client.send(frame(1, 0));
    // Declares no fds but carries one: it waits in the stream's pool, unclaimed.
    p.client.send(frame(2, 0), [efd]);
    await done;
    const before = readdirSync('/proc/self/fd').length;
    p.server.close();
    // The socket and the unclaimed fd.
    assert.equal(readdirSync('/proc/self/fd').length, before - 2);
    native.fdClose(efd);
    p.close();
  });

  it('closes the stream with a ProtocolError when a message claims fds that never came', { timeout: 10000 }, async () => {
    const p = await pair(`unix:path=${path.join(dir, 's3')}`);
    const closed = new Promise<Error | undefined>((resolve) => { p.server.onClose = resolve; });
    p.server.onMessage = () => { p.server.takeFds(1); };
    p.client.send(frame(1, 0));
    const e = await closed;
    assert.ok(e instanceof ProtocolError && e.code === 'MISSING_FDS');
    p.close();
  });

  it('closes the stream with MESSAGE_TOO_LONG above the configured limit, and accepts a message at the limit', { timeout: 10000 }, async () => {
    const p = await pair(`unix:path=${path.join(dir, 's4')}`);
    p.server.maxMessageBytes = 1000;
    const closed = new Promise<Error | undefined>((resolve) => { p.server.onClose = resolve; });
    const got: number[] = [];
    p.server.onMessage = (f) => got.push(f.length);
    p.client.send(frame(1, 1000 - 16));
    p.client.send(frame(2, 1000 - 15));
    const e = await closed;
    assert.deepEqual(got, [1000]);
    assert.ok(e instanceof ProtocolError && e.code === 'MESSAGE_TOO_LONG');
    p.close();
  });

  it('reports queued bytes while the reader is paused, and drains after resume', { timeout: 10000 }, async () => {
    const p = await pair(`unix:path=${path.join(dir, 's5')}`);
    await Promise.resolve();
    p.server.pause();
    let received = 0;
    const total = 512;
    const all = new Promise<void>((resolve) => { p.server.onMessage = () => { if (++received === total) resolve(); }; });
    const blocked = new Promise<void>((resolve) => {
      const check = () => (p.client.queuedBytes > 0 ? resolve() : setImmediate(check));
      check();
    });
    for (let i = 1; i <= total; i++) p.client.send(frame(i, 64 * 1024));
    await blocked;
    assert.ok(p.client.queuedBytes > 0);
    const drained = new Promise<void>((resolve) => { p.client.onDrain = resolve; });
    p.server.resume();
    await Promise.all([all, drained]);
    assert.equal(p.client.queuedBytes, 0);
    p.close();
  });

  it('carries messages over tcp with ANONYMOUS where the bus allows it', { timeout: 10000 }, async () => {
    const p = await pair('tcp:host=127.0.0.1,port=0');
    assert.equal(p.unixFd, false);
    const got = collect(p.server, 100);
    for (let i = 1; i <= 100; i++) p.client.send(frame(i, i * 7));
    const frames = await got;
    assert.equal(frames[99].length, 16 + 700);
    p.close();
  });

  it('tells the other side when a peer closes', { timeout: 10000 }, async () => {
    const p = await pair(`unix:path=${path.join(dir, 's6')}`);
    const closed = new Promise<Error | undefined>((resolve) => { p.server.onClose = resolve; });
    p.client.close();
    assert.equal(await closed, undefined);
    p.close();
  });
});
