// The short run of the stateful fuzzer against a live bus in `npm test`
// (`npm run fuzz -- live --seconds S --seed N` runs it longer).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runLiveFuzz } from './live-fuzz.js';

describe('live bus fuzz (short)', () => {
  it('keeps answering a well-behaved client after every sequence of broken and valid traffic from 3 raw clients (seed 1, 3 s and at least 20 sequences each)', { timeout: 90_000 }, async () => {
    const report = await runLiveFuzz({ seconds: 3, seed: 1, clients: 3, minSequences: 20 });
    assert.deepEqual(report.problems, [], report.summary);
    assert.ok(report.sequences > 0 && report.checks === report.sequences, report.summary);
    assert.ok([...report.busLog.keys()].some((line) => line.includes('dropped')), 'broken traffic reached the bus and was dropped');
  });
});
