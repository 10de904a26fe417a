// The same scenarios with real clients — busctl, dbus-send, dbus-monitor,
// gdbus and a dbus-python service and client — against fastbus and against
// the reference dbus-daemon. Outputs are compared after unique names are
// normalised; a difference is a failure.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { FIXTURES, run, start, startBus, type BusKind, type TestBus } from './fixtures/bus.js';

const PY = '/usr/bin/python3';
const results = new Map<BusKind, Map<string, string>>();
const norm = (s: string): string => s.replace(/:1\.\d+/g, ':1.N').replace(/time=[\d.]+/g, 'time=T').replace(/serial=\d+/g, 'serial=S');

for (const kind of ['fastbus', 'dbus-daemon'] as const) {
  describe(`interop on ${kind}`, { timeout: 120000 }, () => {
    let bus: TestBus;
    let service: ReturnType<typeof start>;
    const record = (key: string, value: string): void => {
      let m = results.get(kind);
      if (!m) results.set(kind, (m = new Map()));
      m.set(key, norm(value));
    };

    before(async () => {
      bus = await startBus(kind);
      service = start(bus, PY, [path.join(FIXTURES, 'py-service.py')]);
      await service.waitFor(/ready :1\.\d+/);
    });
    after(async () => {
      await service?.stop();
      await bus?.stop();
    });

    for (const scenario of ['types', 'errors', 'signals', 'fds', 'names']) {
      it(`runs the dbus-python '${scenario}' scenario`, { timeout: 30000 }, async () => {
        const out = await run(bus, PY, [path.join(FIXTURES, 'py-client.py'), scenario]);
        const json = JSON.parse(out);
        record(`py:${scenario}`, JSON.stringify(json));
        if (scenario === 'types') assert.equal(json.big, 1000000);
        if (scenario === 'signals') assert.deepEqual(json.got, [['match', '2'], ['match', '4']]);
        if (scenario === 'fds') assert.equal(json.read, 'through the bus');
        if (scenario === 'errors') assert.equal(json.refuse[0], 'org.fastbus.Test.Error.Refused');
      });
    }

    it('lists names, calls and introspects with busctl', { timeout: 30000 }, async () => {
      const list = await run(bus, 'busctl', ['--user', 'list', '--no-pager', '--no-legend', '--acquired']);
      assert.match(list, /^org\.fastbus\.Test /m);
      assert.match(list, /^org\.freedesktop\.DBus /m);
      const owner = await run(bus, 'busctl', ['--user', 'call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'GetNameOwner', 's', 'org.fastbus.Test']);
      record('busctl:owner', owner);
      assert.match(owner, /^s ":1\.\d+"$/m);
      const echo = await run(bus, 'busctl', ['--user', 'call', 'org.fastbus.Test', '/org/fastbus/Test', 'org.fastbus.Test', 'Echo', 's', 'hello']);
      record('busctl:echo', echo);
      assert.equal(echo.trim(), 's "hello"');
      const tree = await run(bus, 'busctl', ['--user', 'tree', '--no-pager', 'org.fastbus.Test']);
      record('busctl:tree', tree);
      assert.match(tree, /\/org\/fastbus\/Test/);
      const intro = await run(bus, 'busctl', ['--user', 'introspect', '--no-pager', 'org.freedesktop.DBus', '/org/freedesktop/DBus']);
      for (const m of ['.GetNameOwner', '.RequestName', '.AddMatch', '.GetConnectionCredentials', '.NameOwnerChanged', '.Features']) assert.ok(intro.includes(m), m);
      const svc = await run(bus, 'busctl', ['--user', 'introspect', '--no-pager', 'org.fastbus.Test', '/org/fastbus/Test']);
      record('busctl:introspect', svc);
      const status = await run(bus, 'busctl', ['--user', 'status', '--no-pager', 'org.fastbus.Test']);
      assert.match(status, /^UniqueName=:1\.\d+$/m);
      assert.match(status, new RegExp(`^PID=${service.child.pid}$`, 'm'));
    });

    it('shows a call in busctl monitor', { timeout: 30000 }, async () => {
      const mon = start(bus, 'busctl', ['--user', 'monitor', '--no-pager', 'org.fastbus.Test']);
      await mon.waitFor(/Monitoring bus message stream/);
      await run(bus, 'busctl', ['--user', 'call', 'org.fastbus.Test', '/org/fastbus/Test', 'org.fastbus.Test', 'Echo', 's', 'seen-by-monitor']);
      await mon.waitFor(/seen-by-monitor[\s\S]*Type=method_return/);
      await mon.stop();
    });

    it('calls with dbus-send and sees a signal in dbus-monitor', { timeout: 30000 }, async () => {
      const reply = await run(bus, 'dbus-send', ['--session', '--print-reply', '--dest=org.fastbus.Test', '/org/fastbus/Test', 'org.fastbus.Test.Echo', 'string:from dbus-send']);
      record('dbus-send:echo', reply);
      assert.match(reply, /string "from dbus-send"/);
      const mon = start(bus, 'dbus-monitor', ['--session', "type='signal',interface='org.fastbus.Sig'"]);
      // NameLost of its own name tells that dbus-monitor has become a monitor.
      await mon.waitFor(/member=NameLost/);
      await run(bus, 'dbus-send', ['--session', '--type=signal', '/org/fastbus/Sig', 'org.fastbus.Sig.Hello', 'string:to the monitor', 'int32:42']);
      await mon.waitFor(/member=Hello[\s\S]*string "to the monitor"[\s\S]*int32 42/);
      await mon.stop();
    });

    it('calls, emits, monitors and introspects with gdbus', { timeout: 30000 }, async () => {
      const echo = await run(bus, 'gdbus', ['call', '--session', '-d', 'org.fastbus.Test', '-o', '/org/fastbus/Test', '-m', 'org.fastbus.Test.Echo', 'via gdbus']);
      record('gdbus:echo', echo);
      assert.equal(echo.trim(), "('via gdbus',)");
      const mon = start(bus, 'gdbus', ['monitor', '--session', '-d', 'org.fastbus.Test']);
      await mon.waitFor(/Monitoring signals/);
      // gdbus monitor prints its banner before its AddMatch reaches the bus, so
      // a signal emitted at once may pass unseen: emit again (each emission is a
      // whole method call) until the monitor shows one, a bounded number of times.
      const changed = /org\.fastbus\.Test\.Changed \('from', 'gdbus'\)/;
      for (let i = 0; i < 100 && !changed.test(mon.output()); i++) {
        await run(bus, 'gdbus', ['call', '--session', '-d', 'org.fastbus.Test', '-o', '/org/fastbus/Test', '-m', 'org.fastbus.Test.Emit', 'from', 'gdbus']);
      }
      await mon.waitFor(changed);
      await mon.stop();
      // A dbus-python subscriber (AddMatch answered before it says 'listening') receives what gdbus emits.
      const sub = start(bus, PY, [path.join(FIXTURES, 'py-client.py'), 'listen']);
      await sub.waitFor(/^listening$/m);
      await run(bus, 'gdbus', ['emit', '--session', '-o', '/org/fastbus/E', '-s', 'org.fastbus.E.Ping', '7', "'seven'"]);
      const got = await sub.waitFor(/^\{"ping".*\}$/m);
      await sub.stop();
      record('gdbus:emit', got);
      assert.deepEqual(JSON.parse(got), { ping: [7, 'seven'], path: '/org/fastbus/E' });
      const intro = await run(bus, 'gdbus', ['introspect', '--session', '-d', 'org.fastbus.Test', '-o', '/org/fastbus/Test']);
      record('gdbus:introspect', intro);
      assert.match(intro, /EchoAll\(in {2}y y,/);
      const drv = await run(bus, 'gdbus', ['introspect', '--session', '-d', 'org.freedesktop.DBus', '-o', '/org/freedesktop/DBus']);
      assert.match(drv, /interface org\.freedesktop\.DBus \{/);
    });

    it('queues a second owner of a name and hands the name over when the first leaves', { timeout: 30000 }, async () => {
      const second = start(bus, PY, [path.join(FIXTURES, 'py-service.py'), 'org.fastbus.Handover', '0']);
      await second.waitFor(/ready/);
      const third = start(bus, PY, [path.join(FIXTURES, 'py-service.py'), 'org.fastbus.Handover', '0']);
      await third.waitFor(/request 2/);
      const queue = await run(bus, 'busctl', ['--user', 'call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'ListQueuedOwners', 's', 'org.fastbus.Handover']);
      record('names:queue', queue);
      assert.match(queue, /^as 2 ":1\.\d+" ":1\.\d+"$/m);
      await second.stop();
      await third.waitFor(/ready/);
      await third.stop();
    });
  });
}

describe('fastbus and dbus-daemon agree', () => {
  it('gives the same normalised output in every scenario', () => {
    const a = results.get('fastbus');
    const b = results.get('dbus-daemon');
    assert.ok(a && b && a.size > 0 && a.size === b.size, 'both buses ran every scenario');
    for (const [key, value] of b) assert.equal(a.get(key), value, `scenario ${key} differs`);
  });
});
