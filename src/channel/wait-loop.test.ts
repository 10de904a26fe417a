// How an end waits (wait-loop.ts, docs/channel.md "The wake-up path"): after
// work it stays awake for up to pollUs, polling the ring each turn of the
// event loop, so that a peer answering within that time rings no doorbell.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, listen, type Channel, type ChannelOptions } from './index.js';

const cleanups: Array<() => void> = [];

async function pair(options: ChannelOptions): Promise<{ a: Channel; b: Channel }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fastbus-wait-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const server = listen(path.join(dir, 'ch.sock'), options);
  cleanups.push(() => void server.close());
  const accepted = once(server, 'connection') as Promise<[Channel]>;
  const b = await connect(path.join(dir, 'ch.sock'), options);
  const [a] = await accepted;
  cleanups.push(() => { void a.close(); void b.close(); });
  return { a, b };
}

/** `n` round trips, each end with one listener throughout (an end without one never sleeps). */
async function roundTrips(a: Channel, b: Channel, n: number): Promise<void> {
  b.on('message', (m) => { b.trySend(m) || void b.send(m); });
  let wake: (m: unknown) => void = () => {};
  a.on('message', (m) => wake(m));
  for (let i = 0; i < n; i++) {
    const reply = new Promise((resolve) => { wake = resolve; });
    await a.send(i);
    assert.equal(await reply, i);
  }
}

describe('channel wait loop', () => {
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it('stays awake for pollUs after work: a peer answering within it rings no doorbell', { timeout: 60_000 }, async () => {
    // Awake for up to 1 s after each message: every reply below comes well within it.
    const { a, b } = await pair({ pollUs: 1_000_000 });
    await roundTrips(a, b, 100);
    // At most one ring each way: an end may have gone to sleep before the first message.
    assert.ok(a.stats.doorbellsRung <= 1 && b.stats.doorbellsRung <= 1, `doorbells rung: ${a.stats.doorbellsRung} and ${b.stats.doorbellsRung}`);
  });

  it('sleeps at once with pollUs: 0, each message ringing its sleeping peer', { timeout: 60_000 }, async () => {
    const { a, b } = await pair({ pollUs: 0 });
    await roundTrips(a, b, 20);
    assert.ok(a.stats.doorbellsRung >= 19 && b.stats.doorbellsRung >= 19, `doorbells rung: ${a.stats.doorbellsRung} and ${b.stats.doorbellsRung}`);
  });

  it('answers while awake though neither end keeps the process alive (unref)', { timeout: 60_000 }, async () => {
    const { a, b } = await pair({});
    a.unref();
    b.unref();
    await roundTrips(a, b, 200);
  });
});
