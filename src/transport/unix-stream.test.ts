// What a UnixStream holds while it relays a burst: messages queued while
// handling one read leave before the next read, so a stream that forwards a
// flood keeps at most one receive buffer's worth queued (not a whole
// readiness callback's worth: 4 MiB of small messages, each a live object).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import * as native from '../native/native.js';
import { ReadGroup } from './read-group.js';
import { UnixStream } from './unix-stream.js';
import { frame, serialOf, socketPair } from '../../test/fixtures/frames.js';

it('writes what each read produced before reading more, so a relayed burst queues at most one read', { timeout: 10000 }, async (t) => {
  const RECEIVE_BYTES = 256 * 1024;
  const COUNT = 10_000;
  const SIZE = 200;
  // 2 MiB written before the relay's first readiness callback: one callback reads it all.
  const inFds = socketPair();
  native.check(native.sockSetopt(inFds[1], 1, 7, 8 * 1024 * 1024), 'setsockopt');
  const frames = Array.from({ length: COUNT }, (_, i) => frame(i + 1, SIZE - 16));
  for (let i = 0; i < COUNT; i += 512) {
    const batch = frames.slice(i, i + 512);
    assert.equal(native.sockSend(inFds[1], batch, null), batch.length * SIZE);
  }
  const outFds = socketPair();
  const relayIn = new UnixStream(inFds[0], RECEIVE_BYTES);
  const relayOut = new UnixStream(outFds[0]);
  t.after(() => {
    relayIn.close();
    relayOut.close();
    native.fdClose(inFds[1]);
    native.fdClose(outFds[1]);
  });
  relayOut.startMessages(new Uint8Array(0));
  let maxQueued = 0;
  let relayed = 0;
  const done = new Promise<void>((resolve) => {
    relayIn.onMessage = (f) => {
      maxQueued = Math.max(maxQueued, relayOut.queuedBytes);
      relayOut.send(f);
      if (++relayed === COUNT) resolve();
    };
  });
  relayIn.startMessages(new Uint8Array(0));
  await done;
  assert.ok(maxQueued <= RECEIVE_BYTES, `${maxQueued} bytes were queued at once`);
  // Everything arrives, in order (nobody read the far end: the kernel held it all).
  const got = new Uint8Array(COUNT * SIZE);
  let n = 0;
  while (n < got.length) {
    const r = native.fdRead(outFds[1], got.subarray(n));
    if (r === -native.EAGAIN) await new Promise((r) => setImmediate(r));
    else n += native.check(r, 'read');
  }
  for (let i = 0; i < COUNT; i += 997) assert.deepEqual(got.subarray(i * SIZE, (i + 1) * SIZE), frames[i]);
});

it('stops between messages once its read group has spent its turn, and delivers the rest in later turns, in order, though nothing more arrives', { timeout: 10000 }, async (t) => {
  const COUNT = 100;
  const frames = Array.from({ length: COUNT }, (_, i) => frame(i + 1, 40));
  const fds = socketPair();
  // All of it before the first read; then nothing more arrives to report readiness again.
  assert.ok(native.sockSend(fds[1], frames, null) > 0);
  // A clock that moves 1 ms at each look: the 0.5 ms budget is spent at the first look of every turn.
  let clockMs = 0;
  const stream = new UnixStream(fds[0]);
  stream.readGroup = new ReadGroup(0.5, () => (clockMs += 1));
  t.after(() => {
    stream.close();
    native.fdClose(fds[1]);
  });
  const turns = new Set<number>();
  const serials: number[] = [];
  const done = new Promise<void>((resolve) => {
    stream.onMessage = (f) => {
      turns.add(native.loopTurns()[0]);
      serials.push(serialOf(f));
      if (serials.length === COUNT) resolve();
    };
  });
  stream.startMessages(new Uint8Array(0));
  await done;
  assert.deepEqual(serials, frames.map((_, i) => i + 1));
  // Eight messages a turn at most (the group looks at its clock every eight).
  assert.ok(turns.size >= COUNT / 8, `${COUNT} messages in ${turns.size} turns`);
});
