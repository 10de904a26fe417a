// The order of what the bus sends around name changes, and what monitors see,
// on fastbus and on dbus-daemon with the same config: RequestName and
// ReleaseName send NameLost, NameOwnerChanged and NameAcquired before their
// reply; a connection that becomes a monitor gives up its names (unique name
// first) before it is a monitor, so it does not see their NameOwnerChanged;
// and every message the policy refuses (signals and calls that want no reply
// included) is answered with AccessDenied, which monitors see too, as is
// every message to a name nobody has with ServiceUnknown.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageFlags, MessageType, type DecodedMessage } from '../src/wire/index.js';
import { start, startBus, type BusKind, type TestBus } from './fixtures/bus.js';
import { DBUS, raw, type Raw } from './fixtures/raw-client.js';

const CONFIG = `<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen>
  <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/>
    <deny send_interface="org.test.Denied"/></policy></busconfig>`;
const ACCESS_DENIED = 'org.freedesktop.DBus.Error.AccessDenied';

/** A message as a short, comparable line: what it is, from whom to whom, its first argument. */
function line(m: DecodedMessage, names: Record<string, string>): string {
  const who = (n: string | undefined): string => (n === undefined ? '*' : names[n] ?? n);
  const what = m.type === MessageType.METHOD_RETURN ? 'return' : m.type === MessageType.ERROR ? m.errorName! : m.member!;
  const arg = (m.type === MessageType.SIGNAL || m.type === MessageType.METHOD_CALL) && typeof m.body[0] === 'string' ? ` ${who(m.body[0])}` : '';
  return `${what} ${who(m.sender)}->${who(m.destination)}${arg}`;
}

async function becomeMonitor(c: Raw, rules: string[] = []): Promise<void> {
  const r = await c.call({ ...DBUS, interface: 'org.freedesktop.DBus.Monitoring', member: 'BecomeMonitor', signature: 'asu', body: [rules, 0] });
  assert.equal(r.type, MessageType.METHOD_RETURN);
}

for (const kind of ['fastbus', 'dbus-daemon'] as BusKind[]) {
  describe(`name changes and their replies on ${kind}`, { timeout: 30000 }, () => {
    let bus: TestBus;
    let a: Raw;
    let b: Raw;
    let monitor: Raw;
    let names: Record<string, string>;
    before(async () => {
      bus = await startBus(kind, CONFIG);
      a = await raw(bus.address);
      b = await raw(bus.address);
      monitor = await raw(bus.address);
      await becomeMonitor(monitor, ["interface='org.freedesktop.DBus'", "type='method_return'"]);
      names = { [a.name]: 'A', [b.name]: 'B', 'org.freedesktop.DBus': 'bus' };
    });
    after(async () => {
      for (const c of [a, b, monitor]) c?.stream.close();
      await bus?.stop();
    });

    /**
     * Calls the driver from `c`; checks that `c` hears from the bus (a signal)
     * before the reply, and returns what the monitor saw from the call on.
     */
    async function seen(c: Raw, member: string, signature: string, body: unknown[]): Promise<string[]> {
      const serial = c.send({ ...DBUS, member, signature, body });
      // The inbox keeps arrival order: the first of the two to come.
      const first = await c.next((m) => m.replySerial === serial || (m.type === MessageType.SIGNAL && m.body[0] === body[0]));
      assert.equal(first.type, MessageType.SIGNAL, `${member}: the caller got its reply before the signal`);
      await c.next((m) => m.replySerial === serial);
      // A later call from the same client: once the monitor has it, it has everything before it.
      const marker = c.send({ ...DBUS, member: 'GetId' });
      await monitor.next((m) => m.sender === c.name && m.serial === marker);
      const all = monitor.inbox.splice(0, monitor.inbox.length);
      const call = all.findIndex((m) => m.member === member && m.sender === c.name);
      const reply = all.findIndex((m) => m.replySerial === serial && m.destination === c.name);
      return all.slice(call, reply + 1).map((m) => line(m, names)).filter((l) => !l.startsWith('NameOwnerChanged bus->* :'));
    }

    it('sends NameOwnerChanged and NameAcquired before the reply to RequestName', async () => {
      assert.deepEqual(await seen(a, 'RequestName', 'su', ['org.test.Order', 1]), [
        'RequestName A->bus org.test.Order', 'NameOwnerChanged bus->* org.test.Order', 'NameAcquired bus->A org.test.Order', 'return bus->A',
      ]);
    });

    it('sends NameLost, NameOwnerChanged and NameAcquired before the reply when a name is taken over', async () => {
      assert.deepEqual(await seen(b, 'RequestName', 'su', ['org.test.Order', 2]), [
        'RequestName B->bus org.test.Order', 'NameLost bus->A org.test.Order', 'NameOwnerChanged bus->* org.test.Order',
        'NameAcquired bus->B org.test.Order', 'return bus->B',
      ]);
    });

    it('sends NameLost, NameOwnerChanged and NameAcquired before the reply to ReleaseName', async () => {
      assert.deepEqual(await seen(b, 'ReleaseName', 's', ['org.test.Order']), [
        'ReleaseName B->bus org.test.Order', 'NameLost bus->B org.test.Order', 'NameOwnerChanged bus->* org.test.Order',
        'NameAcquired bus->A org.test.Order', 'return bus->B',
      ]);
    });

    it('shows the same order to dbus-monitor', async () => {
      const dbusMonitor = start(bus, 'dbus-monitor', ['--session', "interface='org.freedesktop.DBus'", "type='method_return'"]);
      await dbusMonitor.waitFor(/member=NameLost/); // its own unique name, lost when it became a monitor
      const c = await raw(bus.address);
      const serial = c.send({ ...DBUS, member: 'RequestName', signature: 'su', body: ['org.test.Monitored', 0] });
      await c.next((m) => m.replySerial === serial);
      const unique = c.name.replace(/\./g, '\\.');
      await dbusMonitor.waitFor(new RegExp(`method return [^\\n]*destination=${unique} serial=\\d+ reply_serial=${serial}\\n`));
      const out = dbusMonitor.output();
      const from = out.indexOf('member=RequestName');
      const order = [...out.slice(from).matchAll(/^(signal|method return)[^\n]*?(?:member=(\w+)|reply_serial=(\d+))/gm)]
        .map((m) => m[2] ?? `return ${m[3]}`);
      assert.deepEqual(order.slice(0, 3), ['NameOwnerChanged', 'NameAcquired', `return ${serial}`]);
      c.stream.close();
      await dbusMonitor.stop();
    });
  });

  describe(`a connection that becomes a monitor on ${kind}`, { timeout: 30000 }, () => {
    let bus: TestBus;
    before(async () => {
      bus = await startBus(kind, CONFIG);
    });
    after(async () => bus?.stop());

    it('loses its names, unique name first, without seeing their NameOwnerChanged', async () => {
      const watcher = await raw(bus.address);
      await watcher.call({ ...DBUS, member: 'AddMatch', signature: 's', body: ["type='signal',member='NameOwnerChanged'"] });
      const d = await raw(bus.address);
      await d.call({ ...DBUS, member: 'RequestName', signature: 'su', body: ['org.test.Given', 0] });
      d.inbox.length = 0;
      await becomeMonitor(d);
      // A broadcast after it: once the new monitor has it, it has everything before it.
      watcher.send({ type: MessageType.SIGNAL, path: '/marker', interface: 'org.test.Marker', member: 'Marker' });
      await d.next((m) => m.member === 'Marker');
      const names = { [d.name]: 'D', 'org.freedesktop.DBus': 'bus' };
      assert.deepEqual(d.inbox.map((m) => line(m, names)), ['NameLost bus->D D', 'NameLost bus->D org.test.Given']);
      // Everyone else hears of both, in the same order.
      await watcher.next((m) => m.member === 'NameOwnerChanged' && m.body[0] === 'org.test.Given');
      assert.deepEqual(watcher.inbox.filter((m) => m.member === 'NameOwnerChanged' && m.body[1] === d.name).map((m) => m.body),
        [[d.name, d.name, ''], ['org.test.Given', d.name, '']]);
      for (const c of [watcher, d]) c.stream.close();
    });
  });

  describe(`messages the bus refuses on ${kind}`, { timeout: 30000 }, () => {
    let bus: TestBus;
    before(async () => {
      bus = await startBus(kind, CONFIG);
    });
    after(async () => bus?.stop());

    it('answers each with AccessDenied, signals and calls that want no reply included, and monitors see it', async () => {
      const monitor = await raw(bus.address);
      await becomeMonitor(monitor, ["interface='org.test.Denied'", `type='error'`]);
      const sender = await raw(bus.address);
      const receiver = await raw(bus.address);
      const denied = { destination: receiver.name, path: '/p', interface: 'org.test.Denied' };
      const serials = [
        sender.send({ ...denied, member: 'Call' }),
        sender.send({ ...denied, member: 'Quiet', flags: MessageFlags.NO_REPLY_EXPECTED }),
        sender.send({ ...denied, type: MessageType.SIGNAL, member: 'Signal' }),
      ];
      for (const serial of serials) {
        const error = await sender.next((m) => m.replySerial === serial);
        assert.equal(error.errorName, ACCESS_DENIED);
      }
      const names = { [sender.name]: 'S', [receiver.name]: 'R', 'org.freedesktop.DBus': 'bus' };
      monitor.inbox.push(await monitor.next((m) => m.replySerial === serials[2] && m.type === MessageType.ERROR));
      assert.deepEqual(monitor.inbox.filter((m) => m.sender === sender.name || m.destination === sender.name).map((m) => line(m, names)), [
        'Call S->R', `${ACCESS_DENIED} bus->S`, 'Quiet S->R', `${ACCESS_DENIED} bus->S`, 'Signal S->R', `${ACCESS_DENIED} bus->S`,
      ]);
      for (const c of [monitor, sender, receiver]) c.stream.close();
    });

    it('answers each message to a name nobody has with ServiceUnknown, signals and replies included', async () => {
      const sender = await raw(bus.address);
      const serials = [
        sender.send({ destination: 'org.test.Nobody', path: '/p', interface: 'org.test.X', member: 'Quiet', flags: MessageFlags.NO_REPLY_EXPECTED }),
        sender.send({ type: MessageType.SIGNAL, destination: 'org.test.Nobody', path: '/p', interface: 'org.test.X', member: 'Signal' }),
        sender.send({ type: MessageType.METHOD_RETURN, destination: ':1.9999', replySerial: 7 }),
      ];
      for (const serial of serials) {
        const error = await sender.next((m) => m.replySerial === serial);
        assert.equal(error.errorName, 'org.freedesktop.DBus.Error.ServiceUnknown');
      }
      sender.stream.close();
    });
  });
}
