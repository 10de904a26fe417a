// What the bus answers, on fastbus and on dbus-daemon with the same config:
// a method call with no destination is for the bus itself (D-Bus
// specification, "Message Bus Message Routing"): Peer and Introspect are
// answered from no sender, everything else with UnknownMethod, and nobody
// else sees the call; and the driver at other object paths: the
// org.freedesktop.DBus, Introspectable and Peer interfaces answer anywhere,
// the newer ones only at /org/freedesktop/DBus, and Introspect describes what
// each path has (the same XML on both buses).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { MessageFlags, MessageType, type DecodedMessage, type Message } from '../src/wire/index.js';
import { run, startBus, type BusKind, type TestBus } from './fixtures/bus.js';
import { DBUS, raw, type Raw } from './fixtures/raw-client.js';

const D = 'org.freedesktop.DBus';
const EMPTY_NODE = '<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"\n'
  + '"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n<node>\n</node>\n';
const machineIdFile = ['/etc/machine-id', '/var/lib/dbus/machine-id'].find((f) => existsSync(f));

/** What a call came back with: the error name and text, or 'return' and the body. */
async function answer(c: Raw, m: Partial<Message>): Promise<[string, unknown]> {
  const reply = await c.call(m);
  return reply.type === MessageType.ERROR ? [reply.errorName!, reply.body[0]] : ['return', reply.body];
}

for (const kind of ['fastbus', 'dbus-daemon'] as BusKind[]) {
  describe(`method calls without a destination on ${kind}`, { timeout: 30000 }, () => {
    let bus: TestBus;
    let caller: Raw;
    before(async () => {
      bus = await startBus(kind);
      caller = await raw(bus.address);
    });
    after(async () => {
      caller?.stream.close();
      await bus?.stop();
    });

    it('answers Peer.GetMachineId and Ping itself, from no sender', { skip: machineIdFile ? false : 'no machine id on this machine' }, async () => {
      const out = await run(bus, 'dbus-send', ['--session', '--print-reply', '/', 'org.freedesktop.DBus.Peer.GetMachineId']);
      assert.match(out, /^method return .* sender=\(null sender\) -> destination=\(null destination\)/);
      assert.match(out, new RegExp(`string "${readFileSync(machineIdFile!, 'utf8').trim()}"`));
      const ping = await caller.call({ path: '/some/where', interface: 'org.freedesktop.DBus.Peer', member: 'Ping' });
      assert.deepEqual([ping.type, ping.sender, ping.destination, ping.body], [MessageType.METHOD_RETURN, undefined, undefined, []]);
    });

    it('answers Introspect with an empty node at any path', async () => {
      assert.deepEqual(await answer(caller, { path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus.Introspectable', member: 'Introspect' }), ['return', [EMPTY_NODE]]);
      assert.deepEqual(await answer(caller, { path: '/x', member: 'Introspect' }), ['return', [EMPTY_NODE]]);
    });

    it('answers driver methods and every other call with UnknownMethod', async () => {
      const unknown = 'org.freedesktop.DBus.Error.UnknownMethod';
      assert.deepEqual(await answer(caller, { path: '/org/freedesktop/DBus', interface: D, member: 'ListNames' }),
        [unknown, 'Method "ListNames" with signature "" on interface "org.freedesktop.DBus" doesn\'t exist\n']);
      assert.deepEqual(await answer(caller, { path: '/', member: 'GetNameOwner', signature: 's', body: [D] }),
        [unknown, 'Method "GetNameOwner" with signature "s" on interface "(null)" doesn\'t exist\n']);
      assert.deepEqual(await answer(caller, { path: '/', interface: 'org.freedesktop.DBus.Peer', member: 'Pong' }),
        [unknown, 'Unknown method invoked on org.freedesktop.DBus.Peer interface']);
      // Through dbus-python, as an application meets it.
      const out = await run(bus, '/usr/bin/python3', ['-c', `import dbus
try:
    dbus.SessionBus().call_blocking(None, '/', 'org.freedesktop.DBus.Properties', 'Get', 'ss', ('${D}', 'Features'))
except dbus.DBusException as e:
    print(e.get_dbus_name())`]);
      assert.equal(out.trim(), unknown);
    });

    it('answers such a call even when it asks for no reply, as dbus-daemon does', async () => {
      const quiet = caller.send({ flags: MessageFlags.NO_REPLY_EXPECTED, path: '/', interface: 'org.freedesktop.DBus.Peer', member: 'Ping' });
      assert.equal((await caller.next((m) => m.replySerial === quiet)).type, MessageType.METHOD_RETURN);
    });

    it('shows such a call to no other connection, not even a monitor', async () => {
      const spy = await raw(bus.address);
      await spy.call({ ...DBUS, member: 'AddMatch', signature: 's', body: ["type='method_call'"] });
      await spy.call({ ...DBUS, member: 'AddMatch', signature: 's', body: ["type='signal',member='Marker'"] });
      const monitor = await raw(bus.address);
      await monitor.call({ ...DBUS, interface: 'org.freedesktop.DBus.Monitoring', member: 'BecomeMonitor', signature: 'asu', body: [["path='/undirected'"], 0] });
      const seen = (m: DecodedMessage): boolean => m.path === '/undirected';
      caller.send({ path: '/undirected', interface: 'org.fastbus.Test', member: 'Call' });
      caller.send({ path: '/undirected', interface: 'org.freedesktop.DBus.Peer', member: 'Ping' });
      caller.send({ type: MessageType.SIGNAL, path: '/undirected', interface: 'org.fastbus.Test', member: 'Marker' });
      // Each gets the caller's messages in order: the calls would be here before the marker.
      await spy.next((m) => seen(m) && m.member === 'Marker');
      await monitor.next((m) => seen(m) && m.member === 'Marker');
      assert.deepEqual([spy.inbox.filter(seen).length, monitor.inbox.filter(seen).length], [0, 0]);
      for (const c of [spy, monitor]) c.stream.close();
    });
  });

  describe(`the driver at other object paths on ${kind}`, { timeout: 30000 }, () => {
    let bus: TestBus;
    let c: Raw;
    before(async () => {
      bus = await startBus(kind);
      c = await raw(bus.address);
    });
    after(async () => {
      c?.stream.close();
      await bus?.stop();
    });
    const at = (path: string, iface: string | undefined, member: string, signature = '', body: unknown[] = []): Promise<[string, unknown]> =>
      answer(c, { destination: D, path, interface: iface, member, signature, body });

    it('answers org.freedesktop.DBus, Introspectable and Peer methods at any path', async () => {
      const [, id] = await at('/org/freedesktop/DBus', D, 'GetId');
      assert.deepEqual(await at('/some/path', D, 'GetId'), ['return', id]);
      assert.deepEqual(await at('/some/path', undefined, 'GetId'), ['return', id]);
      assert.deepEqual(await at('/', 'org.freedesktop.DBus.Peer', 'Ping'), ['return', []]);
      assert.equal((await at('/x', 'org.freedesktop.DBus.Introspectable', 'Introspect'))[0], 'return');
    });

    it('answers Properties, Monitoring and Debug.Stats only at /org/freedesktop/DBus', async () => {
      const unknownInterface = (m: string): [string, string] => ['org.freedesktop.DBus.Error.UnknownInterface', `org.freedesktop.DBus does not understand message ${m}`];
      assert.deepEqual(await at('/x', 'org.freedesktop.DBus.Properties', 'Get', 'ss', [D, 'Features']), unknownInterface('Get'));
      assert.deepEqual(await at('/x', 'org.freedesktop.DBus.Properties', 'GetAll', 's', [D]), unknownInterface('GetAll'));
      assert.deepEqual(await at('/x', 'org.freedesktop.DBus.Monitoring', 'BecomeMonitor', 'asu', [[], 0]), unknownInterface('BecomeMonitor'));
      assert.deepEqual(await at('/x', 'org.freedesktop.DBus.Debug.Stats', 'GetStats'), unknownInterface('GetStats'));
      assert.deepEqual(await at('/x', 'org.example.Nothing', 'Get'), unknownInterface('Get'));
      assert.deepEqual(await at('/x', undefined, 'Get', 'ss', [D, 'Features']),
        ['org.freedesktop.DBus.Error.UnknownMethod', 'org.freedesktop.DBus does not understand message Get']);
      assert.deepEqual(await at('/org/freedesktop/DBus', D, 'NoSuchMethod'),
        ['org.freedesktop.DBus.Error.UnknownMethod', 'org.freedesktop.DBus does not understand message NoSuchMethod']);
      assert.equal((await at('/org/freedesktop/DBus', 'org.freedesktop.DBus.Properties', 'Get', 'ss', [D, 'Features']))[0], 'return');
    });

    it('refuses UpdateActivationEnvironment elsewhere with AccessDenied', async () => {
      assert.deepEqual(await at('/x', D, 'UpdateActivationEnvironment', 'a{ss}', [new Map()]),
        ['org.freedesktop.DBus.Error.AccessDenied', "Method 'UpdateActivationEnvironment' is only available at the canonical object path '/org/freedesktop/DBus'"]);
    });

    it('answers a call with the wrong arguments with InvalidArgs', async () => {
      assert.deepEqual(await at('/x', D, 'GetId', 's', ['x']), ['org.freedesktop.DBus.Error.InvalidArgs', 'Call to GetId has wrong args (s, expected )\n']);
    });
  });
}

describe('driver introspection, fastbus against dbus-daemon', { timeout: 30000 }, () => {
  const buses: TestBus[] = [];
  const clients: Raw[] = [];
  before(async () => {
    for (const kind of ['fastbus', 'dbus-daemon'] as BusKind[]) {
      const bus = await startBus(kind);
      buses.push(bus);
      clients.push(await raw(bus.address));
    }
  });
  after(async () => {
    for (const c of clients) c.stream.close();
    for (const b of buses) await b.stop();
  });

  for (const path of ['/', '/org', '/org/freedesktop', '/org/freedesktop/DBus', '/org/freedesktop/DBus/Sub', '/somewhere/else']) {
    it(`gives the same XML at ${path}`, async () => {
      const [fast, reference] = await Promise.all(clients.map((c) => answer(c, { destination: D, path, interface: 'org.freedesktop.DBus.Introspectable', member: 'Introspect' })));
      assert.equal(fast[0], 'return');
      assert.equal((fast[1] as string[])[0], (reference[1] as string[])[0]);
    });
  }
});
