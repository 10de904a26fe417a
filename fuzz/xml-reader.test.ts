// The short fuzz run of `npm test` for the XML reader (`npm run fuzz` runs
// longer), and its agreement with expat on the same documents.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readXml } from '../src/util/xml-reader.js';
import { compareWithExpat, expatAvailable, fuzzDocuments } from './xml-expat.js';
import { fuzzXmlReader, xmlCorpus } from './xml-reader.fuzz.js';

describe('XML reader fuzz (short)', () => {
  it('starts from a corpus of documents that all read', () => {
    for (const doc of xmlCorpus()) readXml(doc);
  });

  it('never throws anything but XmlError on 10000 mutated documents, and what reads formats back', { timeout: 60_000 }, () => {
    assert.deepEqual(fuzzXmlReader(10_000, 17), []);
  });

  it('accepts and refuses what expat does, with the same trees, on 3000 mutated documents', { skip: !expatAvailable() && 'python3 with pyexpat is not installed', timeout: 60_000 }, () => {
    assert.deepEqual(compareWithExpat([...xmlCorpus(), ...fuzzDocuments(3000, 19)]), []);
  });
});
