import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomBytes } from './random-bytes.js';

test('randomBytes gives the length asked for, and two draws differ', () => {
  for (const n of [0, 1, 16, 4096]) assert.equal(randomBytes(n).length, n);
  assert.notDeepEqual(randomBytes(16), randomBytes(16));
});
