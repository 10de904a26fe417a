// The busy poller (loop-busy.c): called again and again within a slice, with
// the promise jobs and nextTicks run between calls and no turn of the loop.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as n from './native.js';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('native busy poller', () => {
  it('calls again in the same slice, after the promise jobs and nextTicks of the call before, with no loop turn between', async () => {
    const turns = n.loopTurns();
    const seen: string[] = [];
    let calls = 0;
    let firstTurn = -1;
    await new Promise<void>((resolve) => {
      // A slice of up to 1 s: the second call follows the first at once.
      const h = n.busyOpen(() => {
        calls++;
        if (calls === 1) {
          firstTurn = turns[0];
          process.nextTick(() => seen.push('tick'));
          void Promise.resolve().then(() => seen.push('job'));
          return true;
        }
        seen.push(turns[0] === firstTurn ? 'same turn' : 'another turn');
        // Closed from inside its own callback: no call after this one.
        n.busyClose(h);
        resolve();
        return true;
      }, 1_000_000);
    });
    await turn();
    await turn();
    assert.deepEqual(seen, ['tick', 'job', 'same turn']);
    assert.equal(calls, 2);
  });

  it('ends the slice when the callback returns false: the loop turns before the next call', async () => {
    const turns = n.loopTurns();
    const at: number[] = [];
    await new Promise<void>((resolve) => {
      const h = n.busyOpen(() => {
        at.push(turns[0]);
        if (at.length < 3) return false;
        n.busyClose(h);
        resolve();
        return false;
      }, 1_000_000);
    });
    assert.equal(at.length, 3);
    assert.ok(at[1] !== at[0] && at[2] !== at[1], `turns ${at.join(', ')}`);
  });

  it('refuses a slice out of range and a closed handle', () => {
    for (const bad of [-1, 1.5, 1_000_001]) assert.throws(() => n.busyOpen(() => false, bad), RangeError);
    const h = n.busyOpen(() => false, 10);
    n.busyRef(h, false);
    n.busyClose(h);
    assert.throws(() => n.busyClose(h), (e: unknown) => (e as { code?: string }).code === 'EBADF');
    assert.throws(() => n.busyRef(h, true), (e: unknown) => (e as { code?: string }).code === 'EBADF');
  });
});
