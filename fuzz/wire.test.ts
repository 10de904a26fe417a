// The short fuzz run of `npm test` for the wire decoders (`npm run fuzz` runs longer).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { corpus, fuzzWire } from './wire.fuzz.js';
import { decodeMessage } from '../src/wire/index.js';

describe('wire fuzz (short)', () => {
  it('starts from a corpus of messages that all decode', () => {
    for (const b of corpus()) decodeMessage(b);
  });

  for (const seed of [1, 2]) {
    it(`never throws anything but ProtocolError on 15000 mutated messages (seed ${seed})`, { timeout: 60_000 }, () => {
      const failures = fuzzWire(15_000, seed);
      assert.deepEqual(failures, []);
    });
  }
});
