import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatMatchRule, matchesRule, MatchRuleError, parseMatchRule, type MatchableMessage } from './match-rule.js';
import { MatchIndex } from './match-index.js';

function msg(fields: Partial<MatchableMessage>, args: Array<string | { path: string }> = []): MatchableMessage {
  return {
    type: 4,
    ...fields,
    arg: (i) => {
      const a = args[i];
      if (a === undefined) return undefined;
      return typeof a === 'string' ? { value: a, isPath: false } : { value: a.path, isPath: true };
    },
  };
}

describe('match rules', () => {
  it('parses every key and formats back to the same rule', () => {
    const text = "type='signal',sender='org.example.A',interface='org.example.I',member='Changed',path_namespace='/org/example',destination=':1.5',arg0='x',arg2path='/a/',arg63='z',eavesdrop='true'";
    const r = parseMatchRule(text);
    assert.equal(r.type, 4);
    assert.equal(r.args?.get(63), 'z');
    assert.equal(r.argPaths?.get(2), '/a/');
    assert.deepEqual(parseMatchRule(formatMatchRule(r)), r);
  });

  it("reads \\' outside quotes as an apostrophe and a backslash inside quotes as itself", () => {
    assert.equal(parseMatchRule("arg0='it'\\''s'").args?.get(0), "it's");
    assert.equal(parseMatchRule("arg0='a\\b'").args?.get(0), 'a\\b');
    assert.equal(parseMatchRule("arg0=plain").args?.get(0), 'plain');
    const r = parseMatchRule("arg0='it'\\''s'");
    assert.deepEqual(parseMatchRule(formatMatchRule(r)), r);
  });

  it('accepts an empty rule and spaces between pairs', () => {
    assert.deepEqual(parseMatchRule(''), {});
    assert.equal(parseMatchRule(" type='signal', member='X'").member, 'X');
  });

  for (const [bad, why] of [
    ["foo='bar'", 'unknown key'],
    ["type='signal',type='signal'", 'repeated key'],
    ["type='nope'", 'bad type'],
    ["path='/a',path_namespace='/b'", 'path with path_namespace'],
    ["arg64='x'", 'arg index over 63'],
    ["arg0='x", 'unterminated quote'],
    ["interface='nodots'", 'bad interface'],
    ["member='a.b'", 'bad member'],
    ["path='/a/'", 'bad path'],
    ["sender='1bad.name'", 'bad sender'],
    ["eavesdrop='yes'", 'bad eavesdrop'],
    ["member", 'no value'],
    [`arg0='${'x'.repeat(1020)}'`, 'longer than 1024 bytes'],
  ]) {
    it(`rejects ${why}`, () => assert.throws(() => parseMatchRule(bad), MatchRuleError));
  }

  it('matches argN on strings only, argNpath on strings and paths by prefix either way', () => {
    assert.ok(matchesRule(parseMatchRule("arg0='a'"), msg({}, ['a'])));
    assert.ok(!matchesRule(parseMatchRule("arg0='/a'"), msg({}, [{ path: '/a' }])));
    const r = parseMatchRule("arg0path='/aa/bb/'");
    assert.ok(matchesRule(r, msg({}, ['/aa/bb/'])));
    assert.ok(matchesRule(r, msg({}, ['/aa/bb/cc'])));
    assert.ok(matchesRule(r, msg({}, [{ path: '/aa/' }])));
    assert.ok(matchesRule(r, msg({}, ['/'])));
    assert.ok(!matchesRule(r, msg({}, ['/aa/b'])));
    assert.ok(!matchesRule(r, msg({}, ['/aa'])));
  });

  it('matches arg0namespace and path_namespace by whole elements', () => {
    const ns = parseMatchRule("arg0namespace='com.example.backend1'");
    assert.ok(matchesRule(ns, msg({}, ['com.example.backend1'])));
    assert.ok(matchesRule(ns, msg({}, ['com.example.backend1.foo'])));
    assert.ok(!matchesRule(ns, msg({}, ['com.example.backend10'])));
    const p = parseMatchRule("path_namespace='/com/example/foo'");
    assert.ok(matchesRule(p, msg({ path: '/com/example/foo/bar' })));
    assert.ok(matchesRule(p, msg({ path: '/com/example/foo' })));
    assert.ok(!matchesRule(p, msg({ path: '/com/example/foobar' })));
    assert.ok(matchesRule(parseMatchRule("path_namespace='/'"), msg({ path: '/x' })));
  });

  it('follows a well-known sender through the bus owner check', () => {
    const r = parseMatchRule("sender='org.example.A'");
    assert.ok(!matchesRule(r, msg({ sender: ':1.7' })));
    assert.ok(matchesRule(r, msg({ sender: ':1.7' }), (name, unique) => name === 'org.example.A' && unique === ':1.7'));
  });
});

describe('match index', () => {
  it('finds matching rules through buckets and counts identical rules', () => {
    const idx = new MatchIndex<string>();
    const add = (owner: string, text: string) => idx.add(owner, parseMatchRule(text), formatMatchRule(parseMatchRule(text)));
    add('a', "type='signal',member='Changed'");
    add('a', "type='signal',member='Changed'");
    add('b', "interface='org.example.I'");
    add('c', "path='/x'");
    add('d', "type='signal'");
    add('e', "member='Other'");
    const hit = (m: MatchableMessage) => {
      const owners: string[] = [];
      idx.forEachMatch(m, (e) => owners.push(e.owner));
      return owners.sort();
    };
    assert.deepEqual(hit(msg({ member: 'Changed', interface: 'org.example.I', path: '/x' })), ['a', 'b', 'c', 'd']);
    assert.deepEqual(hit(msg({ type: 1, member: 'Other' })), ['e']);
    assert.equal(idx.countOf('a'), 2);
    const t = formatMatchRule(parseMatchRule("type='signal',member='Changed'"));
    assert.ok(idx.remove('a', t));
    assert.deepEqual(hit(msg({ member: 'Changed' })), ['a', 'd']);
    assert.ok(idx.remove('a', t));
    assert.ok(!idx.remove('a', t));
    assert.deepEqual(hit(msg({ member: 'Changed' })), ['d']);
    idx.removeOwner('d');
    assert.deepEqual(hit(msg({ member: 'Changed' })), []);
    assert.equal(idx.size, 3);
  });
});
