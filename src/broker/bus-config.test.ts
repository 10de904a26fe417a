import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { BusConfigError, parseBusConfig, readBusConfig } from './bus-config.js';
import { BusPolicy } from './bus-policy.js';

describe('bus configuration', () => {
  it("reads Debian's session.conf with its includes", { skip: !existsSync('/usr/share/dbus-1/session.conf') && 'no /usr/share/dbus-1/session.conf here (Debian package dbus-session-bus-common)' }, () => {
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

  it('checks send and receive rules as dbus-daemon does: last match wins, nothing matching denies', () => {
    const c = parseBusConfig(`<busconfig><policy context="default">
        <deny send_type="method_call"/>
        <allow send_type="signal"/>
        <allow send_requested_reply="true" send_type="method_return"/>
        <allow send_destination="org.ok" send_interface="org.ok.I"/>
        <allow receive_sender="*"/>
        <deny receive_sender="org.noisy" receive_type="signal"/>
      </policy></busconfig>`, '/tmp/p.conf');
    const p = new BusPolicy(c.policies, () => false);
    const call = { type: 1, interface: 'org.ok.I', member: 'M', path: '/', destination: 'org.ok', requestedReply: false };
    assert.ok(p.checkMessage('send', 0, call, [':1.2', 'org.ok']));
    assert.ok(!p.checkMessage('send', 0, { ...call, interface: 'org.ok.Other' }, [':1.2', 'org.ok']));
    assert.ok(!p.checkMessage('send', 0, { ...call, interface: undefined }, [':1.2', 'org.ok']), 'an allow with send_interface needs the interface');
    assert.ok(!p.checkMessage('send', 0, call, [':1.3', 'org.other']));
    assert.ok(p.checkMessage('send', 0, { type: 2, requestedReply: true, destination: ':1.4' }, [':1.4']));
    assert.ok(!p.checkMessage('send', 0, { type: 2, requestedReply: false, destination: ':1.4' }, [':1.4']), 'an unrequested reply matches no allow');
    assert.ok(!p.checkMessage('send', 0, { type: 3, requestedReply: true, destination: ':1.4' }, [':1.4']), 'nothing allows errors');
    assert.ok(p.checkMessage('send', 0, { type: 4, interface: 'a.b', member: 'S', path: '/', requestedReply: false }, [':1.4']));
    assert.ok(!p.checkMessage('receive', 0, { type: 4, interface: 'a.b', member: 'S', path: '/', requestedReply: false }, [':1.9', 'org.noisy']));
    assert.ok(p.checkMessage('receive', 0, { type: 1, interface: 'a.b', member: 'S', path: '/', requestedReply: false }, [':1.9', 'org.noisy']));
    assert.ok(!p.open);
  });

  it('lets the bus owner connect by default, and user and group rules of default and mandatory blocks decide', () => {
    const own = process.geteuid!();
    const other = own + 12345;
    assert.deepEqual([own, other].map((u) => new BusPolicy([]).allowsUser(u)), [true, false]);
    const anyone = new BusPolicy(parseBusConfig('<busconfig><policy context="default"><allow user="*"/></policy></busconfig>', '/tmp/u.conf').policies);
    assert.deepEqual([own, other].map((u) => anyone.allowsUser(u)), [true, true]);
    const later = new BusPolicy(parseBusConfig(`<busconfig><policy context="mandatory"><deny user="${other}"/></policy><policy context="default"><allow user="*"/></policy></busconfig>`, '/tmp/u.conf').policies);
    assert.deepEqual([own, other].map((u) => later.allowsUser(u)), [true, false]);
  });

  it('records the limits it reads and does not apply, to report them', () => {
    const c = parseBusConfig('<busconfig><limit name="max_incoming_bytes">1000</limit><limit name="reply_timeout">5</limit></busconfig>', '/tmp/l.conf');
    assert.deepEqual(c.ignored, ['<limit name="max_incoming_bytes">']);
    assert.equal(c.limits.reply_timeout, 5);
  });

  it('lets only eavesdrop="true" rules cover eavesdropped copies, and eavesdrop="true" denies only those', () => {
    const c = parseBusConfig(`<busconfig><policy context="default">
        <allow send_destination="*"/>
        <allow receive_sender="*"/>
        <allow receive_interface="org.open" eavesdrop="true"/>
        <deny receive_interface="org.open" receive_member="Secret" eavesdrop="true"/>
      </policy></busconfig>`, '/tmp/p.conf');
    const p = new BusPolicy(c.policies, () => false);
    const m = { type: 1, interface: 'org.open', member: 'M', path: '/', destination: 'org.x', requestedReply: false };
    assert.ok(p.checkMessage('receive', 0, m, [':1.1'], true));
    assert.ok(!p.checkMessage('receive', 0, { ...m, interface: 'org.closed' }, [':1.1'], true));
    assert.ok(p.checkMessage('receive', 0, { ...m, interface: 'org.closed' }, [':1.1'], false));
    assert.ok(!p.checkMessage('receive', 0, { ...m, member: 'Secret' }, [':1.1'], true));
    assert.ok(p.checkMessage('receive', 0, { ...m, member: 'Secret' }, [':1.1'], false));
    assert.ok(!p.open);
    const session = new BusPolicy(parseBusConfig('<busconfig><policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>', '/tmp/s.conf').policies);
    assert.ok(session.open && session.openToEavesdropping);
    const noEavesdrop = new BusPolicy(parseBusConfig('<busconfig><policy context="default"><allow send_destination="*"/><allow receive_sender="*"/></policy></busconfig>', '/tmp/s.conf').policies);
    assert.ok(noEavesdrop.open && !noEavesdrop.openToEavesdropping);
  });

  it('matches min_fds and max_fds against the fds a message carries', () => {
    const c = parseBusConfig(`<busconfig><policy context="default">
        <allow send_destination="*"/>
        <deny send_interface="org.fd" min_fds="1"/>
        <allow send_interface="org.fd" send_member="One" max_fds="1"/>
      </policy></busconfig>`, '/tmp/p.conf');
    const p = new BusPolicy(c.policies, () => false);
    const m = (member: string, unixFds: number) => ({ type: 1, interface: 'org.fd', member, path: '/', destination: ':1.1', unixFds, requestedReply: false });
    assert.deepEqual([m('Two', 0), m('Two', 1), m('One', 1), m('One', 2)].map((x) => p.checkMessage('send', 0, x, [':1.1'])), [true, false, true, false]);
  });

  it('applies at_console="true" blocks to users at the console and at_console="false" blocks to the others', () => {
    const c = parseBusConfig(`<busconfig><policy context="default"><allow send_destination="*"/></policy>
        <policy at_console="true"><deny send_interface="a.b" send_member="NotForConsole"/></policy>
        <policy at_console="false"><deny send_interface="a.b" send_member="OnlyForConsole"/></policy></busconfig>`, '/tmp/p.conf');
    const m = (member: string) => ({ type: 1, interface: 'a.b', member, path: '/', destination: ':1.1', requestedReply: false });
    const atConsole = new BusPolicy(c.policies, (uid) => uid === 1000);
    assert.deepEqual([1000, 1001].map((uid) => [atConsole.checkMessage('send', uid, m('NotForConsole'), [':1.1']), atConsole.checkMessage('send', uid, m('OnlyForConsole'), [':1.1'])]),
      [[false, true], [true, false]]);
    assert.ok(atConsole.checkMessage('send', undefined, m('OnlyForConsole'), [':1.1']), 'neither block applies without a uid');
    assert.throws(() => parseBusConfig('<busconfig><policy at_console="maybe"/></busconfig>', '/tmp/p.conf'), /at_console/);
  });

  for (const [xml, why] of [
    ['<busconfig><frobnicate/></busconfig>', 'an unsupported element'],
    ['<busconfig><listen>x</busconfig>', 'a mismatched tag'],
    ['<busconfig><limit name="max_message_size">lots</limit></busconfig>', 'a non-numeric limit'],
    ['<busconfig><policy context="sometimes"/></busconfig>', 'a bad policy context'],
    ['<busconfig><policy context="default"><allow send_colour="red"/></policy></busconfig>', 'an unsupported policy attribute'],
    ['<busconfig><policy context="default"><deny send_member="Reboot"/></policy></busconfig>', 'a member without interface or path'],
    ['<busconfig><limit name="max_frobs">3</limit></busconfig>', 'an unknown limit'],
    ['<busconfig><policy context="default"><deny max_fds="many" receive_sender="*"/></policy></busconfig>', 'a non-numeric max_fds'],
    ['<notbusconfig/>', 'the wrong root element'],
    ['<busconfig><include>/nonexistent/x.conf</include></busconfig>', 'a missing include'],
  ]) {
    it(`rejects ${why} with a BusConfigError naming the file`, () => {
      assert.throws(() => parseBusConfig(xml, '/tmp/bad.conf'), (e: unknown) => e instanceof BusConfigError && e.message.includes('/tmp/bad.conf'));
    });
  }
});
