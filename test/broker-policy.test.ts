// <policy> on fastbus and on dbus-daemon with the same config and the same
// bare clients: eavesdrop="true" decides which copies an eavesdropping match
// rule gets, min_fds/max_fds which messages may carry fds, and at_console
// blocks apply by whether the user is at the console (here: compared with
// what bus-policy.ts decides for this machine, the same on both buses);
// send rules cover calls to the bus driver; BecomeMonitor and
// UpdateActivationEnvironment are only for root and the bus's user; user
// rules decide who may connect.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { isAtConsole } from '../src/broker/bus-policy.js';
import * as native from '../src/native/native.js';
import { MessageFlags, MessageType } from '../src/wire/index.js';
import { ANONYMOUS_TCP_CONFIG, startBus, type BusKind, type TestBus } from './fixtures/bus.js';
import { DBUS, raw, type Raw } from './fixtures/raw-client.js';

const CONFIG = `<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen>
  <policy context="default">
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow own="*"/>
    <allow receive_interface="org.test.Open" eavesdrop="true"/>
    <deny send_interface="org.test.Fds" min_fds="1"/>
    <allow send_interface="org.test.Fds" send_member="One" max_fds="1"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus" send_member="ListNames"/>
    <deny receive_sender="org.freedesktop.DBus" receive_interface="org.freedesktop.DBus" receive_member="NameOwnerChanged"/>
  </policy>
  <policy at_console="true"><deny send_interface="org.test.Console" send_member="NotForConsole"/></policy>
  <policy at_console="false"><deny send_interface="org.test.Console" send_member="OnlyForConsole"/></policy>
</busconfig>`;

const ACCESS_DENIED = 'org.freedesktop.DBus.Error.AccessDenied';

for (const kind of ['fastbus', 'dbus-daemon'] as BusKind[]) {
  describe(`policy on ${kind}`, { timeout: 30000 }, () => {
    let bus: TestBus;
    let caller: Raw;
    let callee: Raw;
    before(async () => {
      bus = await startBus(kind, CONFIG);
      caller = await raw(bus.address);
      callee = await raw(bus.address);
    });
    after(async () => {
      for (const c of [caller, callee]) c?.stream.close();
      await bus?.stop();
    });

    /** Calls the callee: 'delivered' (it answers) or the error name the caller got. */
    async function outcome(iface: string, member: string, nfds = 0): Promise<string> {
      const fds = Array.from({ length: nfds }, () => native.check(native.efdOpen(0), 'eventfd'));
      const serial = caller.send({ destination: callee.name, path: '/p', interface: iface, member, signature: 'h'.repeat(nfds), body: fds.map((_, i) => i) }, fds);
      const reply = caller.next((m) => m.replySerial === serial);
      // A call that is refused never reaches the callee: that wait stays pending, harmlessly (serials are not reused).
      const arrived = callee.next((m) => m.sender === caller.name && m.serial === serial);
      const first = await Promise.race([reply, arrived]);
      // Sent once the bus answered or passed the call on: ours can close.
      for (const fd of fds) native.fdClose(fd);
      if (first.replySerial === serial) return first.errorName ?? 'answered by the bus?';
      for (const fd of first.fds ?? []) native.fdClose(fd);
      callee.send({ type: MessageType.METHOD_RETURN, flags: MessageFlags.NO_REPLY_EXPECTED, destination: caller.name, replySerial: first.serial });
      await reply;
      return 'delivered';
    }

    it('lets a message carry unix fds only as min_fds and max_fds allow', async () => {
      assert.deepEqual([
        await outcome('org.test.Fds', 'Two', 0),
        await outcome('org.test.Fds', 'Two', 1),
        await outcome('org.test.Fds', 'One', 1),
        await outcome('org.test.Fds', 'One', 2),
      ], ['delivered', ACCESS_DENIED, 'delivered', ACCESS_DENIED]);
    });

    it('gives an eavesdropping match rule only the copies an eavesdrop="true" rule allows', async () => {
      const spy = await raw(bus.address);
      const added = await spy.call({ ...DBUS, member: 'AddMatch', signature: 's', body: ["eavesdrop='true',type='method_call',path='/spied'"] });
      assert.equal(added.type, MessageType.METHOD_RETURN);
      for (const iface of ['org.test.Plain', 'org.test.Open']) {
        caller.send({ flags: MessageFlags.NO_REPLY_EXPECTED, destination: callee.name, path: '/spied', interface: iface, member: 'Call' });
      }
      await callee.next((m) => m.interface === 'org.test.Open' && m.path === '/spied');
      await callee.next((m) => m.interface === 'org.test.Plain' && m.path === '/spied');
      // Copies keep the sender's order: a copy of the first call would be here before the second.
      await spy.next((m) => m.interface === 'org.test.Open' && m.path === '/spied');
      assert.equal(spy.inbox.filter((m) => m.interface === 'org.test.Plain').length, 0);
      spy.stream.close();
    });

    it('applies send rules to calls to the bus driver', async () => {
      const denied = await caller.call({ ...DBUS, member: 'ListNames' });
      assert.equal(denied.errorName, ACCESS_DENIED);
      const other = await caller.call({ ...DBUS, member: 'ListQueuedOwners', signature: 's', body: [callee.name] });
      assert.deepEqual(other.body, [[callee.name]]);
    });

    it('applies receive rules to signals from the bus driver', async () => {
      const watcher = await raw(bus.address);
      await watcher.call({ ...DBUS, member: 'AddMatch', signature: 's', body: ["type='signal',sender='org.freedesktop.DBus'"] });
      const newcomer = await raw(bus.address);
      // The bus announced the newcomer before answering its Hello: anything for the watcher is queued before this reply.
      await watcher.call({ ...DBUS, member: 'GetId' });
      assert.deepEqual(watcher.inbox.filter((m) => m.sender === 'org.freedesktop.DBus').map((m) => m.member), ['NameAcquired']);
      for (const c of [watcher, newcomer]) c.stream.close();
    });

    it('applies at_console blocks by whether the user is at the console', async () => {
      const atConsole = isAtConsole(process.getuid!());
      assert.deepEqual([await outcome('org.test.Console', 'NotForConsole'), await outcome('org.test.Console', 'OnlyForConsole')],
        atConsole ? [ACCESS_DENIED, 'delivered'] : ['delivered', ACCESS_DENIED]);
    });
  });
}

for (const kind of ['fastbus', 'dbus-daemon'] as BusKind[]) {
  describe(`privileged driver methods on ${kind}`, { timeout: 30000 }, () => {
    let bus: TestBus;
    before(async () => {
      bus = await startBus(kind, ANONYMOUS_TCP_CONFIG, false);
    });
    after(async () => bus?.stop());

    it('refuses BecomeMonitor and UpdateActivationEnvironment to a connection without a uid (ANONYMOUS)', async () => {
      const c = await raw(bus.address);
      const env = await c.call({ ...DBUS, member: 'UpdateActivationEnvironment', signature: 'a{ss}', body: [new Map([['FASTBUS_X', '1']])] });
      const monitor = await c.call({ ...DBUS, interface: 'org.freedesktop.DBus.Monitoring', member: 'BecomeMonitor', signature: 'asu', body: [[], 0] });
      assert.deepEqual([env.errorName, monitor.errorName], [ACCESS_DENIED, ACCESS_DENIED]);
      assert.equal((await c.call({ ...DBUS, member: 'GetId' })).type, MessageType.METHOD_RETURN, 'and it goes on as a client');
      c.stream.close();
    });
  });
}

for (const kind of ['fastbus', 'dbus-daemon'] as BusKind[]) {
  describe(`connection rules on ${kind}`, { timeout: 30000 }, () => {
    let bus: TestBus;
    before(async () => {
      bus = await startBus(kind, `<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen>
        <policy context="default"><allow send_destination="*"/><allow receive_sender="*"/><deny user="${os.userInfo().username}"/></policy></busconfig>`);
    });
    after(async () => bus?.stop());

    it('refuses a connection from a user a <deny user=...> rule names, even the bus owner', async () => {
      await assert.rejects(raw(bus.address), /AUTH_REJECTED|rejected|closed/i);
    });
  });
}
