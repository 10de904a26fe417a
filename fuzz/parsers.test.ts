// The short fuzz runs of `npm test` for the match-rule parser and the SASL
// server (`npm run fuzz` runs them longer).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzMatchRule, matchRuleCorpus } from './match-rule.fuzz.js';
import { fuzzSasl } from './sasl.fuzz.js';
import { parseMatchRule } from '../src/match/match-rule.js';

describe('match-rule and SASL fuzz (short)', () => {
  it('starts from a corpus of match rules that all parse', () => {
    for (const rule of matchRuleCorpus()) parseMatchRule(rule);
  });

  it('never throws anything but MatchRuleError on 20000 mutated rules, and what parses formats back', { timeout: 60_000 }, () => {
    assert.deepEqual(fuzzMatchRule(20_000, 11), []);
  });

  it('never throws anything but ProtocolError in 5000 random SASL exchanges, nor grants more than allowed', { timeout: 60_000 }, () => {
    assert.deepEqual(fuzzSasl(5_000, 13), []);
  });
});
