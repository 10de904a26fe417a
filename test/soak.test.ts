// The short soak of `npm test` (`npm run soak` runs it longer): a mixed load on
// a fastbus bus in which no reply may be lost or wrong.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runSoak } from '../bench/soak/soak.js';

describe('soak (short)', () => {
  it('loses no reply and answers none wrongly under calls, pipelining, large bodies, names, signals, churn, slow readers and a peer killed mid-message', { timeout: 120_000 }, async () => {
    const r = await runSoak({ clients: 12, seconds: 4, seed: 3 });
    assert.equal(r.tally.lost, 0, r.summary);
    assert.equal(r.tally.wrong, 0, r.summary);
    assert.ok(r.busUp, r.summary);
    assert.ok(r.tally.calls > 0 && r.killedMidMessage >= 1, r.summary);
  });
});
