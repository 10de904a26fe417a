import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { BusConfigError, parseBusConfig, readBusConfig } from './bus-config.js';
import { BusPolicy } from './bus-policy.js';

describe('bus configuration', () => {
  it("reads Debian's session.conf with its includes", { skip: !existsSync('/usr/share/dbus-1/session.conf') }, () => {
    const c = readBusConfig('/usr/share/dbus-1/session.conf');
    assert.equal(c.type, 'session');
    assert.deepEqual(c.listen, ['unix:tmpdir=/tmp']);
    assert.deepEqual(c.auth, ['EXTERNAL']);
    assert.equal(c.limits.max_names_per_connection, 50000);
    assert.ok(new BusPolicy(c.policies).canOwn(1000, 'org.example.Any'));
  });

  it('reads listen, auth, anonymous, limits and policy, with entities and comments', () => {
    const c = parseBusConfig(`<?xml version="1.0"?>
      <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "x">
      <busconfig>
        <!-- a comment -->
        <listen>unix:path=/tmp/a&amp;b</listen>
        <auth>ANONYMOUS</auth>
        <allow_anonymous/>
        <limit name="max_message_size">4096</limit>
        <policy context="default"><allow own_prefix="org.ok"/><deny own="org.ok.Not"/></policy>
      </busconfig>`, '/tmp/test.conf');
    assert.deepEqual(c.listen, ['unix:path=/tmp/a&b']);
    assert.equal(c.allowAnonymous, true);
    assert.equal(c.limits.max_message_size, 4096);
    const p = new BusPolicy(c.policies);
    assert.ok(p.canOwn(0, 'org.ok.Yes'));
    assert.ok(p.canOwn(0, 'org.ok'));
    assert.ok(!p.canOwn(0, 'org.ok.Not'));
    assert.ok(!p.canOwn(0, 'org.okay'));
  });

  it('checks send and receive rules, last match wins, requested replies pass a plain deny', () => {
    const c = parseBusConfig(`<busconfig><policy context="default">
        <deny send_type="method_call"/>
        <allow send_destination="org.ok" send_interface="org.ok.I"/>
        <deny receive_sender="org.noisy" receive_type="signal"/>
        <deny send_type="method_return" send_requested_reply="true" send_interface="never.set"/>
      </policy></busconfig>`, '/tmp/p.conf');
    const p = new BusPolicy(c.policies);
    const call = { type: 1, interface: 'org.ok.I', member: 'M', path: '/', destination: 'org.ok', requestedReply: false };
    assert.ok(p.checkMessage('send', 0, call, [':1.2', 'org.ok']));
    assert.ok(!p.checkMessage('send', 0, { ...call, interface: 'org.ok.Other' }, [':1.2', 'org.ok']));
    assert.ok(!p.checkMessage('send', 0, call, [':1.3', 'org.other']));
    assert.ok(p.checkMessage('send', 0, { type: 2, requestedReply: true, destination: ':1.4' }, [':1.4']));
    assert.ok(p.checkMessage('send', 0, { type: 4, interface: 'a.b', member: 'S', path: '/', requestedReply: false }, [':1.4']));
    assert.ok(!p.checkMessage('receive', 0, { type: 4, interface: 'a.b', member: 'S', path: '/', requestedReply: false }, [':1.9', 'org.noisy']));
    assert.ok(p.checkMessage('receive', 0, { type: 1, interface: 'a.b', member: 'S', path: '/', requestedReply: false }, [':1.9', 'org.noisy']));
    assert.ok(p.hasMessageDenies());
  });

  for (const [xml, why] of [
    ['<busconfig><frobnicate/></busconfig>', 'an unsupported element'],
    ['<busconfig><listen>x</busconfig>', 'a mismatched tag'],
    ['<busconfig><limit name="max_message_size">lots</limit></busconfig>', 'a non-numeric limit'],
    ['<busconfig><policy context="sometimes"/></busconfig>', 'a bad policy context'],
    ['<busconfig><policy context="default"><allow send_colour="red"/></policy></busconfig>', 'an unsupported policy attribute'],
    ['<notbusconfig/>', 'the wrong root element'],
    ['<busconfig><include>/nonexistent/x.conf</include></busconfig>', 'a missing include'],
  ]) {
    it(`rejects ${why} with a BusConfigError naming the file`, () => {
      assert.throws(() => parseBusConfig(xml, '/tmp/bad.conf'), (e: unknown) => e instanceof BusConfigError && e.message.includes('/tmp/bad.conf'));
    });
  }
});
