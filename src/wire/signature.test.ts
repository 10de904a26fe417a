import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSignature, parseSingleType, isValidSignature, Signature, checkSignature } from './signature.js';
import { ProtocolError } from '../errors.js';

function bad(sig: string, rule: RegExp): void {
  assert.throws(() => parseSignature(sig), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_SIGNATURE' && rule.test(e.message), sig);
  assert.equal(isValidSignature(sig), false);
}

describe('parseSignature', () => {
  it('parses every type code into a tree with alignments', () => {
    const types = parseSignature('ybnqiuxtdsogvh');
    assert.deepEqual(types.map((t) => [t.code, t.align]), [
      ['y', 1], ['b', 4], ['n', 2], ['q', 2], ['i', 4], ['u', 4], ['x', 8], ['t', 8], ['d', 8], ['s', 4], ['o', 4], ['g', 1], ['v', 1], ['h', 4],
    ]);
    const [dict, st] = parseSignature('a{sv}(ia(yy))');
    assert.equal(dict.signature, 'a{sv}');
    assert.equal(dict.element!.code, '{');
    assert.deepEqual(dict.element!.fields!.map((f) => f.code), ['s', 'v']);
    assert.equal(st.signature, '(ia(yy))');
    assert.equal(st.fields![1].element!.signature, '(yy)');
    assert.equal(st.align, 8);
    assert.equal(parseSignature('').length, 0);
    assert.equal(parseSignature('a{sv}'), parseSignature('a{sv}'), 'cached');
    assert.equal(parseSignature('ah')[0].hasFd, true);
    assert.equal(parseSignature('a{sv}')[0].hasFd, false);
  });

  it('rejects malformed signatures naming the rule', () => {
    bad('a', /no element type/);
    bad('(', /not closed/);
    bad('()', /empty/);
    bad(')', /closes nothing/);
    bad('{sv}', /not directly inside an array/);
    bad('a({sv})', /not directly inside an array/);
    bad('a{vs}', /basic/);
    bad('a{(i)s}', /basic/);
    bad('a{s}', /no value type/);
    bad('a{}', /no key type/);
    bad('a{sss}', /more than one value/);
    bad('z', /not a type code/);
    bad('(ii', /not closed/);
  });

  it('enforces the length and nesting limits at the limit and one past it', () => {
    assert.equal(parseSignature('y'.repeat(255)).length, 255);
    bad('y'.repeat(256), /255/);
    assert.equal(parseSignature(`${'a'.repeat(32)}y`).length, 1);
    bad(`${'a'.repeat(33)}y`, /arrays nested more than 32/);
    assert.equal(parseSignature(`${'('.repeat(32)}y${')'.repeat(32)}`).length, 1);
    bad(`${'('.repeat(33)}y${')'.repeat(33)}`, /structs nested more than 32/);
    assert.equal(parseSignature(`${'a{s'.repeat(31)}a{sy${'}'.repeat(32)}`).length, 1);
    bad(`${'a{s'.repeat(32)}a{sy${'}'.repeat(33)}`, /nested more than 32/);
  });

  it('requires exactly one complete type where one is required', () => {
    assert.equal(parseSingleType('a{sv}').code, 'a');
    assert.throws(() => parseSingleType('ii'), /one complete type/);
    assert.throws(() => parseSingleType(''), /one complete type/);
  });
});

describe('Signature', () => {
  it('brands a string that passes the signature rules, and names the rule another breaks', () => {
    assert.equal(Signature.parse('a{sv}'), 'a{sv}');
    assert.equal(Signature.isValid('(i'), false);
    assert.equal(checkSignature('a{vs}'), "dict entry at 1 has a key of type 'v' (keys must be basic types)");
    assert.throws(() => Signature.parse('()'), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_SIGNATURE' && /empty/.test(e.message));
  });
});
