import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PendingSerials } from './pending-serials.js';

describe('pending serials', () => {
  it('behaves as a set of numbers for in-order, out-of-order and duplicate traffic, below and above the switch to a Set', () => {
    for (const n of [1, 5, 32, 33, 200]) {
      const p = new PendingSerials();
      const model = new Set<number>();
      // Calls 1..n, a duplicate, then answers: every third out of order, the rest oldest first.
      for (let s = 1; s <= n; s++) { assert.equal(p.add(s), true); model.add(s); }
      assert.equal(p.add(1), false, 'a serial already there is not added again');
      assert.equal(p.add(n), false);
      assert.equal(p.size, model.size);
      for (let s = 3; s <= n; s += 3) { assert.equal(p.delete(s), true); model.delete(s); }
      assert.equal(p.delete(3), false);
      assert.deepEqual([...p].sort((a, b) => a - b), [...model].sort((a, b) => a - b));
      for (const s of [...model]) { assert.equal(p.has(s), true); assert.equal(p.delete(s), true); }
      assert.equal(p.size, 0);
      assert.equal(p.delete(1), false);
      // Reusable after emptying: one call outstanding while the next is made, for a long run.
      p.add(999);
      for (let s = 1000; s < 1300; s++) { p.add(s); assert.equal(p.delete(s - 1), true); assert.equal(p.size, 1); }
      assert.deepEqual([...p], [1299]);
    }
  });
});
