// Busy mode (docs/channel.md, "Modes and their CPU cost"): the ring is polled
// from the event loop's idle phase, and what a listener leaves to promises or
// nextTick runs before the next message is delivered.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, listen, type Channel, type ChannelOptions } from './index.js';

const cleanups: Array<() => void> = [];

/** Two connected ends in this process, `a` with `options`, `b` busy too. */
async function pair(options: ChannelOptions): Promise<{ a: Channel; b: Channel }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fastbus-busy-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const server = listen(path.join(dir, 'ch.sock'), options);
  cleanups.push(() => void server.close());
  const accepted = once(server, 'connection') as Promise<[Channel]>;
  const b = await connect(path.join(dir, 'ch.sock'), { busy: true });
  const [a] = await accepted;
  cleanups.push(() => { void a.close(); void b.close(); });
  return { a, b };
}

describe('channel busy mode', () => {
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it('runs the promise jobs and nextTicks a listener left before it delivers the next message', { timeout: 30_000 }, async () => {
    const { a, b } = await pair({ busy: true });
    const n = 500;
    // Every message is in the ring before a reads any: one poll finds them all.
    a.pause();
    for (let i = 0; i < n; i++) assert.ok(b.trySend(i));
    await new Promise((resolve) => setImmediate(resolve));
    const log: string[] = [];
    const done = new Promise<void>((resolve) => {
      a.on('message', (m: number) => {
        log.push(`message ${m}`);
        process.nextTick(() => log.push(`tick ${m}`));
        void Promise.resolve().then(() => {
          log.push(`job ${m}`);
          if (m === n - 1) resolve();
        });
      });
    });
    a.resume();
    await done;
    const expected: string[] = [];
    for (let i = 0; i < n; i++) expected.push(`message ${i}`, `tick ${i}`, `job ${i}`);
    assert.deepEqual(log, expected);
  });

  it('answers awaited conversations: a reply sent from a promise continuation goes out and comes back', { timeout: 60_000 }, async () => {
    const { a, b } = await pair({ busy: true });
    b.on('message', (m) => { b.trySend(m) || void b.send(m); });
    const next = (): Promise<unknown> => new Promise((resolve) => a.once('message', resolve));
    for (let i = 0; i < 200; i++) {
      const reply = next();
      await a.send(i);
      assert.equal(await reply, i);
    }
  });

  it('goes on delivering large payloads that land in the receive pool (a dry pool asks for a turn of the loop)', { timeout: 60_000 }, async () => {
    // Default options on the receiving side: each payload is copied into memory the listener owns.
    const { a, b } = await pair({ busy: true });
    const size = 1 << 20;
    const count = 8;
    const got: number[] = [];
    const all = new Promise<void>((resolve) => {
      a.on('message', (m: Uint8Array) => {
        assert.ok(m instanceof Uint8Array);
        assert.equal(m.byteLength, size);
        got.push(m[0]);
        if (got.length === count) resolve();
      });
    });
    for (let i = 0; i < count; i++) await b.send(new Uint8Array(size).fill(i + 1));
    await all;
    assert.deepEqual(got, Array.from({ length: count }, (_, i) => i + 1));
  });
});
