import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loopTurns } from '../native/native.js';
import { ReadGroup, type GroupReader } from './read-group.js';

/** Resolves once this thread's event loop has begun another turn. */
async function nextTurn(): Promise<void> {
  const turns = loopTurns();
  const before = turns[0];
  while (turns[0] === before) await new Promise((resolve) => setImmediate(resolve));
}

/** The groups' clock (ms), moved by the test: `work(ms)` is a stream of a group working that long. */
let clockMs = 0;
const clock = (): number => clockMs;
function work(ms: number): void {
  clockMs += ms;
}

describe('read groups', () => {
  it('count loop turns: the counter stays the same within one turn and grows in the next', async () => {
    const turns = loopTurns();
    const a = turns[0];
    assert.equal(turns[0], a);
    await nextTurn();
    assert.notEqual(turns[0], a);
  });

  it('share one budget per turn among their streams, skipped streams read first in the next turn, and other groups are not held', async () => {
    const group = new ReadGroup(5, clock);
    const other = new ReadGroup(5, clock);
    const a: GroupReader = { readTurn: -1 };
    const b: GroupReader = { readTurn: -1 };
    const c: GroupReader = { readTurn: -1 };
    await nextTurn();
    assert.equal(group.mayRead(a), true);
    work(5.1);
    assert.equal(group.exhausted, true, 'a worked past the budget');
    assert.equal(group.mayRead(b), false, 'the budget of this turn is spent');
    assert.equal(other.mayRead(c), true, 'another group has its own');
    await nextTurn();
    assert.equal(group.exhausted, false);
    assert.equal(group.mayRead(a), false, 'a read last turn while b waited: a yields once');
    assert.equal(group.mayRead(b), true);
    work(5.1);
    assert.equal(group.exhausted, true);
    await nextTurn();
    assert.equal(group.mayRead(a), true, 'a yielded once, and was not skipped for the budget: it reads in callback order again');
    work(5.1);
    assert.equal(group.exhausted, true);
    assert.equal(group.mayRead(b), false);
    await nextTurn();
    assert.equal(group.mayRead(a), false);
    assert.equal(group.mayRead(b), true);
  });

  it('charge work done for another group to that group, which pays a debt of several budgets over as many turns', async () => {
    const service = new ReadGroup(5, clock);
    const caller = new ReadGroup(5, clock);
    const s: GroupReader = { readTurn: -1 };
    const c: GroupReader = { readTurn: -1 };
    await nextTurn();
    assert.equal(service.mayRead(s), true);
    work(5.1);
    // What the service's stream did was the caller's doing, and more: the service has its budget back.
    service.transfer(caller, 12);
    assert.equal(service.exhausted, false);
    assert.equal(caller.mayRead(c), false, 'the caller owes 7 ms');
    await nextTurn();
    assert.equal(caller.mayRead(c), false, 'still 2 ms');
    await nextTurn();
    assert.equal(caller.mayRead(c), true);
  });
});
