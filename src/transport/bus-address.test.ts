import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BusAddressError, formatBusAddress, parseBusAddress, escapeAddressValue } from './bus-address.js';

describe('bus address', () => {
  it('parses alternatives separated by semicolons, unescaping values', () => {
    const a = parseBusAddress('unix:path=/tmp/a%20b,guid=0123456789abcdef0123456789abcdef;tcp:host=localhost,port=1234,family=ipv4');
    assert.equal(a.length, 2);
    assert.deepEqual({ ...a[0].params }, { path: '/tmp/a b', guid: '0123456789abcdef0123456789abcdef' });
    assert.equal(a[1].transport, 'tcp');
    assert.equal(a[1].params.port, '1234');
  });

  it('formats back to text that parses to the same addresses', () => {
    const text = 'unix:abstract=/tmp/dbus-x%2cy;unix:dir=/run/user/0;tcp:host=127.0.0.1,port=0';
    const a = parseBusAddress(text);
    assert.equal(a[0].params.abstract, '/tmp/dbus-x,y');
    assert.deepEqual(parseBusAddress(formatBusAddress(a)), a);
  });

  it('escapes every byte outside the optionally-escaped set, including non-ASCII', () => {
    assert.equal(escapeAddressValue('a-Z_/.\\*'), 'a-Z_/.\\*');
    assert.equal(escapeAddressValue('a,b=c;é'), 'a%2cb%3dc%3b%c3%a9');
  });

  for (const [bad, why] of [
    ['unix:', 'no path'],
    ['unix:path=/a,abstract=b', 'two kinds'],
    ['nocolon', 'no transport'],
    ['unix:path', 'not key=value'],
    ['unix:path=/a,path=/b', 'duplicate key'],
    ['unix:path=%zz', 'bad escape'],
    ['tcp:host=x,port=99999', 'port range'],
    ['tcp:host=x,port=abc', 'port not number'],
    ['tcp:host=x,family=ipx', 'bad family'],
    ['unix:path=/a,guid=xyz', 'bad guid'],
    ['', 'empty'],
  ]) {
    it(`rejects '${bad}' (${why}) with a BusAddressError`, () => {
      assert.throws(() => parseBusAddress(bad), BusAddressError);
    });
  }
});
