import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  BusName, UniqueName, WellKnownName, InterfaceName, ErrorName, MemberName, ObjectPath, InvalidNameError,
  isValidBusName, isValidUniqueName, isValidWellKnownName, isValidInterfaceName, isValidErrorName, isValidMemberName, isValidObjectPath,
} from './index.js';
import { ProtocolError } from '../errors.js';

function rejects(parse: (s: string) => unknown, s: string, rule: RegExp): void {
  assert.throws(() => parse(s), (e: unknown) => e instanceof InvalidNameError && e instanceof ProtocolError && rule.test(e.rule) && e.message.includes(e.rule));
}

describe('names', () => {
  it('accepts valid bus names of both kinds and tells them apart', () => {
    for (const s of [':1.42', ':1.0', ':a.b-c', 'org.freedesktop.DBus', 'a.b', 'org.ex-ample._x9', 'A_.-B']) assert.equal(isValidBusName(s), true, s);
    assert.equal(UniqueName.parse(':1.42'), ':1.42');
    assert.equal(WellKnownName.parse('org.x.Y'), 'org.x.Y');
    assert.equal(isValidUniqueName('org.x'), false);
    assert.equal(isValidWellKnownName(':1.2'), false);
    assert.equal(isValidUniqueName(':1.2'), true);
  });

  it('rejects bad bus names and names the rule broken', () => {
    rejects(BusName.parse, '', /empty/);
    rejects(BusName.parse, 'org..Foo', /element 2 is empty/);
    rejects(BusName.parse, '.org.Foo', /element 1 is empty/);
    rejects(BusName.parse, 'org.Foo.', /ends with a dot/);
    rejects(BusName.parse, 'org', /only one element/);
    rejects(BusName.parse, ':1', /only one element/);
    rejects(BusName.parse, 'org.1x', /element 2 starts with a digit/);
    rejects(BusName.parse, 'org.x/y', /character "\/" at 5/);
    rejects(BusName.parse, 'org.é', /character/);
    rejects(UniqueName.parse, 'org.x', /does not start with ':'/);
    rejects(WellKnownName.parse, ':1.1', /unique name/);
  });

  it('enforces 255 bytes for names at the limit and one past it', () => {
    const at = `a.${'b'.repeat(253)}`;
    assert.equal(at.length, 255);
    assert.equal(isValidBusName(at), true);
    assert.equal(isValidInterfaceName(at), true);
    assert.equal(isValidMemberName('m'.repeat(255)), true);
    rejects(BusName.parse, `${at}c`, /longer than 255/);
    rejects(InterfaceName.parse, `${at}c`, /longer than 255/);
    rejects(ErrorName.parse, `${at}c`, /longer than 255/);
    rejects(MemberName.parse, 'm'.repeat(256), /longer than 255/);
  });

  it('validates interface and error names: no dash, no leading digit, two elements', () => {
    assert.equal(InterfaceName.parse('org.freedesktop.DBus.Properties'), 'org.freedesktop.DBus.Properties');
    assert.equal(ErrorName.parse('org.freedesktop.DBus.Error.Failed'), 'org.freedesktop.DBus.Error.Failed');
    rejects(InterfaceName.parse, 'org.ex-ample', /character "-"/);
    rejects(InterfaceName.parse, 'org.9x', /starts with a digit/);
    rejects(InterfaceName.parse, 'org', /only one element/);
    rejects(InterfaceName.parse, 'org..x', /element 2 is empty/);
    rejects(ErrorName.parse, ':1.2', /character ":"/);
    assert.equal(isValidErrorName('a.b'), true);
  });

  it('validates member names: one element, no leading digit', () => {
    assert.equal(MemberName.parse('GetAll_2'), 'GetAll_2');
    rejects(MemberName.parse, '', /empty/);
    rejects(MemberName.parse, '2x', /starts with a digit/);
    rejects(MemberName.parse, 'a.b', /contains a dot/);
    rejects(MemberName.parse, 'a-b', /character "-"/);
  });

  it('gives the same error codes as the wire decoder', () => {
    assert.throws(() => ObjectPath.parse('x'), { code: 'BAD_PATH' });
    assert.throws(() => BusName.parse('x'), { code: 'BAD_BUS_NAME' });
    assert.throws(() => InterfaceName.parse('x'), { code: 'BAD_INTERFACE' });
    assert.throws(() => MemberName.parse('1'), { code: 'BAD_MEMBER' });
    assert.throws(() => ErrorName.parse('x'), { code: 'BAD_ERROR_NAME' });
  });

  it('validates object paths', () => {
    for (const s of ['/', '/a', '/org/freedesktop/DBus', '/_/9/A_b']) assert.equal(ObjectPath.parse(s), s);
    rejects(ObjectPath.parse, '', /empty/);
    rejects(ObjectPath.parse, 'a/b', /does not start with '\/'/);
    rejects(ObjectPath.parse, '/a/', /ends with '\/'/);
    rejects(ObjectPath.parse, '//a', /element 1 is empty/);
    rejects(ObjectPath.parse, '/a//b', /element 2 is empty/);
    rejects(ObjectPath.parse, '/a-b', /character "-"/);
    rejects(ObjectPath.parse, '/a.b', /character "."/);
  });

  it('validators never throw, whatever they are given', () => {
    for (const v of [undefined, null, 42, {}, [], Symbol('x')] as unknown[]) {
      for (const f of [isValidBusName, isValidUniqueName, isValidWellKnownName, isValidInterfaceName, isValidErrorName, isValidMemberName, isValidObjectPath]) {
        assert.equal(f(v as string), false);
      }
    }
  });
});
