// Limits configured with <limit>, on fastbus and on dbus-daemon with the same
// config and the same bare clients: reply_timeout (the bus answers NoReply and
// drops the late reply), max_replies_per_connection, max_names_per_connection,
// max_match_rules_per_connection and max_connections_per_user, each at the
// limit and one past it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageFlags, MessageType } from '../src/wire/index.js';
import { startBus, type BusKind, type TestBus } from './fixtures/bus.js';
import { DBUS, raw, type Raw } from './fixtures/raw-client.js';

// No eavesdrop="true" on the allow rules: dbus-daemon then refuses replies nobody waits for, as fastbus always does.
const CONFIG = `<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen>
  <policy context="default"><allow send_destination="*"/><allow receive_sender="*"/><allow own="*"/></policy>
  <limit name="reply_timeout">1500</limit>
  <limit name="max_replies_per_connection">3</limit>
  <limit name="max_names_per_connection">3</limit>
  <limit name="max_connections_per_user">6</limit>
  <limit name="max_match_rules_per_connection">3</limit>
</busconfig>`;

for (const kind of ['fastbus', 'dbus-daemon'] as BusKind[]) {
  describe(`limits on ${kind}`, { timeout: 30000 }, () => {
    let bus: TestBus;
    const clients: Raw[] = [];
    const connect = async (): Promise<Raw> => {
      const c = await raw(bus.address);
      clients.push(c);
      return c;
    };
    let watcher: Raw;
    /** Closes a client and waits until the bus has let it go (its NameOwnerChanged). */
    const close = async (c: Raw): Promise<void> => {
      c.stream.close();
      await watcher.next((m) => m.member === 'NameOwnerChanged' && m.body[0] === c.name && m.body[2] === '');
      clients.splice(clients.indexOf(c), 1);
    };
    before(async () => {
      bus = await startBus(kind, CONFIG);
      watcher = await connect();
      await watcher.call({ ...DBUS, member: 'AddMatch', signature: 's', body: ["type='signal',member='NameOwnerChanged'"] });
    });
    after(async () => {
      for (const c of clients) c.stream.close();
      await bus?.stop();
    });

    // reply_timeout is 1.5 s so that the call answered "in time" below is, on a loaded machine too.
    it('answers NoReply from the bus when the callee never replies within reply_timeout, and drops the late reply', async () => {
      const caller = await connect();
      const callee = await connect();
      const serial = caller.send({ destination: callee.name, path: '/p', interface: 'org.test.Slow', member: 'Never' });
      const call = await callee.next((m) => m.member === 'Never');
      const err = await caller.next((m) => m.replySerial === serial);
      assert.equal(err.type, MessageType.ERROR);
      assert.equal(err.errorName, 'org.freedesktop.DBus.Error.NoReply');
      assert.equal(err.sender, 'org.freedesktop.DBus');
      assert.equal(err.signature, 's');
      callee.send({ type: MessageType.METHOD_RETURN, flags: MessageFlags.NO_REPLY_EXPECTED, destination: caller.name, replySerial: call.serial, signature: 's', body: ['late'] });
      callee.send({ type: MessageType.SIGNAL, destination: caller.name, path: '/m', interface: 'org.test.M', member: 'Marker' });
      await caller.next((m) => m.member === 'Marker');
      assert.equal(caller.inbox.filter((m) => m.type === MessageType.METHOD_RETURN && m.replySerial === serial).length, 0);
      // A reply in time still passes, once.
      const s2 = caller.send({ destination: callee.name, path: '/p', interface: 'org.test.Slow', member: 'Quick' });
      const call2 = await callee.next((m) => m.member === 'Quick');
      callee.send({ type: MessageType.METHOD_RETURN, flags: MessageFlags.NO_REPLY_EXPECTED, destination: caller.name, replySerial: call2.serial, signature: 's', body: ['ok'] });
      const ok = await caller.next((m) => m.replySerial === s2);
      assert.deepEqual([ok.type, ok.body[0]], [MessageType.METHOD_RETURN, 'ok']);
      await close(caller);
      await close(callee);
    });

    it('refuses the call past max_replies_per_connection with LimitsExceeded', async () => {
      const caller = await connect();
      const callee = await connect();
      const serials = [1, 2, 3].map(() => caller.send({ destination: callee.name, path: '/p', interface: 'org.test.Q', member: 'Wait' }));
      const fourth = await caller.call({ destination: callee.name, path: '/p', interface: 'org.test.Q', member: 'Wait' });
      assert.equal(fourth.errorName, 'org.freedesktop.DBus.Error.LimitsExceeded');
      for (const s of serials) assert.equal((await callee.next((m) => m.sender === caller.name && m.serial === s)).member, 'Wait');
      await close(caller);
      await close(callee);
    });

    it('refuses the name past max_names_per_connection with LimitsExceeded', async () => {
      const c = await connect();
      const request = (name: string) => c.call({ ...DBUS, member: 'RequestName', signature: 'su', body: [name, 0] });
      // dbus-daemon counts the unique name among the names a connection owns: both buses do.
      for (const name of ['org.test.N1', 'org.test.N2']) assert.equal((await request(name)).body[0], 1);
      const third = await request('org.test.N3');
      assert.equal(third.errorName, 'org.freedesktop.DBus.Error.LimitsExceeded');
      assert.equal((await request('org.test.N1')).errorName, 'org.freedesktop.DBus.Error.LimitsExceeded', 'the check comes before ownership');
      assert.equal((await c.call({ ...DBUS, member: 'ReleaseName', signature: 's', body: ['org.test.N1'] })).body[0], 1);
      assert.equal((await request('org.test.N3')).body[0], 1);
      await close(c);
    });

    it('refuses the match rule past max_match_rules_per_connection with LimitsExceeded, and takes one again after a RemoveMatch', async () => {
      const c = await connect();
      const addMatch = (rule: string) => c.call({ ...DBUS, member: 'AddMatch', signature: 's', body: [rule] });
      for (const m of ['A', 'B', 'C']) assert.equal((await addMatch(`type='signal',member='${m}'`)).type, MessageType.METHOD_RETURN);
      const fourth = await addMatch("type='signal',member='D'");
      assert.equal(fourth.errorName, 'org.freedesktop.DBus.Error.LimitsExceeded');
      assert.equal((await c.call({ ...DBUS, member: 'RemoveMatch', signature: 's', body: ["type='signal',member='A'"] })).type, MessageType.METHOD_RETURN);
      assert.equal((await addMatch("type='signal',member='D'")).type, MessageType.METHOD_RETURN);
      await close(c);
    });

    it('refuses the connection past max_connections_per_user, and takes one again once another leaves', async () => {
      // The watcher is one of the six; clients a failed test above left open are closed first.
      for (const c of clients.filter((x) => x !== watcher)) await close(c);
      const own = await Promise.all([1, 2, 3, 4, 5].map(() => connect()));
      const extra = await raw(bus.address, { hello: false });
      const refused = await extra.call({ ...DBUS, member: 'Hello' });
      assert.equal(refused.errorName, 'org.freedesktop.DBus.Error.LimitsExceeded');
      assert.match(refused.body[0] as string, /maximum number of active connections for UID/);
      extra.stream.close();
      await close(own[0]);
      const again = await connect();
      assert.match(again.name, /^:1\./);
      for (const c of clients.filter((x) => x !== watcher)) await close(c);
    });
  });
}
