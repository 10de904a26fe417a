// The short fuzz run of `npm test` for the introspection XML parser (`npm run fuzz` runs longer).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzIntrospection, introspectionCorpus } from './introspection.fuzz.js';
import { parseIntrospection } from '../src/client/introspection.js';

describe('introspection fuzz (short)', () => {
  it('starts from a corpus of documents that all parse', () => {
    for (const doc of introspectionCorpus()) parseIntrospection(doc);
  });

  it('never throws anything but IntrospectionError on 20000 mutated documents, and what parses formats back', { timeout: 60_000 }, () => {
    assert.deepEqual(fuzzIntrospection(20_000, 7), []);
  });
});
