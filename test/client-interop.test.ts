// The fastbus client across implementations through a real dbus-daemon:
// calling a dbus-python service (variants, int64, errors, signals), being
// called by dbus-python, busctl and gdbus, and passing a unix fd.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { closeSync, openSync, readFileSync, writeSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type Connection, DBusError, defineInterface, Variant } from '../src/client/index.js';
import { startBus, type BusKind, type TestBus } from './fixtures/bus.js';

const run = promisify(execFile);
const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures');
const FromNode = defineInterface({
  name: 'com.example.FromNode',
  methods: {
    Concat: { in: 'ss', out: 's' },
    Stats: { in: 'ai', out: 'ix' },
    Refuse: {},
    ReadFd: { in: 'h', out: 's' },
  },
  properties: { Count: { type: 'u' } },
});

for (const kind of ['dbus-daemon', 'fastbus'] as BusKind[]) describe(`the client with other implementations on ${kind}`, () => {
  let py: ChildProcess;
  let bus: Connection;
  let daemon: TestBus;

  before(async () => {
    daemon = await startBus(kind);
    py = spawn('/usr/bin/python3', [path.join(fixtures, 'py-echo-service.py'), daemon.address], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      py.once('exit', (c) => reject(new Error(`python service exited with ${c}`)));
      py.stdout!.once('data', () => resolve());
    });
    py.removeAllListeners('exit');
    bus = await connect(daemon.address);
    bus.export('/com/example/FromNode', FromNode, {
      Count: 3,
      Concat: (a: string, b: string) => a + b,
      Stats: (xs: number[]) => [xs.length, BigInt(xs.reduce((s, x) => s + x, 0))],
      Refuse() {
        throw new DBusError('com.example.FromNode.Refused', 'node says no');
      },
      ReadFd(fd: number, inv: { fds?: number[] }) {
        const real = inv.fds![fd];
        const buf = Buffer.alloc(64);
        const n = readFileSync(`/proc/self/fd/${real}`).copy(buf);
        closeSync(real);
        return buf.subarray(0, n).toString();
      },
    });
    await bus.requestName('com.example.FromNode');
  });

  after(async () => {
    bus?.close();
    py?.kill();
    await daemon?.stop();
  });

  test('calls a dbus-python service: variants, arrays, int64 results, error names', async () => {
    const p = (await bus.proxy('com.example.PyEcho', '/com/example/PyEcho')).getInterface('com.example.PyEcho');
    const v = (await p.Echo(new Variant('a{sv}', { k: new Variant('s', 'x'), n: new Variant('u', 7) }))) as Variant;
    assert.equal(v.signature, 'a{sv}');
    assert.deepEqual(Object.keys(v.value as object).sort(), ['k', 'n']);
    assert.equal(await p.Sum([1, 2, 2 ** 31 - 1]), BigInt(2 ** 31 + 2));
    await assert.rejects(p.Fail() as Promise<unknown>, (e: unknown) => e instanceof DBusError && e.name === 'com.example.PyEcho.Refused' && e.message === 'python says no');
  });

  test("receives a dbus-python service's signal through a proxy subscription", async () => {
    const p = (await bus.proxy('com.example.PyEcho', '/com/example/PyEcho')).getInterface('com.example.PyEcho');
    const it = await p.signals('Greeted');
    await p.Greet('node');
    assert.deepEqual((await it.next()).value!.body, ['hello node']);
    await it.return();
  });

  test('a dbus-python client calls a fastbus service: methods, properties, errors, introspection', async () => {
    const { stdout } = await run('/usr/bin/python3', [path.join(fixtures, 'py-fastbus-client.py'), daemon.address]);
    assert.deepEqual(JSON.parse(stdout), {
      concat: 'ab', stats: [4, 10], count: 3, error: ['com.example.FromNode.Refused', 'node says no'], introspect_has_concat: true,
    });
  });

  test('busctl and gdbus call a fastbus service and introspect it', async () => {
    const env = { ...process.env, DBUS_SESSION_BUS_ADDRESS: daemon.address };
    const b = await run('busctl', ['--user', 'call', 'com.example.FromNode', '/com/example/FromNode', 'com.example.FromNode', 'Stats', 'ai', '3', '5', '6', '7'], { env });
    assert.equal(b.stdout.trim(), 'ix 3 18');
    const t = await run('busctl', ['--user', 'tree', 'com.example.FromNode'], { env });
    assert.match(t.stdout, /\/com\/example\/FromNode/);
    const g = await run('gdbus', ['call', '--session', '--dest', 'com.example.FromNode', '--object-path', '/com/example/FromNode', '--method', 'com.example.FromNode.Concat', 'x', 'y'], { env });
    assert.equal(g.stdout.trim(), "('xy',)");
    const i = await run('gdbus', ['introspect', '--session', '--dest', 'com.example.FromNode', '--object-path', '/com/example/FromNode'], { env });
    assert.match(i.stdout, /^ +Concat\(in {2}s arg_0,\n +in {2}s arg_1,\n +out s arg_2\);$/m);
    assert.match(i.stdout, /readonly u Count = 3;/);
  });

  test('passes a unix fd to a fastbus service, which reads through it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fastbus-fd-'));
    const file = path.join(dir, 'data');
    const w = openSync(file, 'w');
    writeSync(w, 'through the fd');
    closeSync(w);
    const fd = openSync(file, 'r');
    try {
      assert.equal(bus.unixFd, true);
      const c = await connect(daemon.address);
      try {
        const reply = await c.call({ destination: 'com.example.FromNode', path: '/com/example/FromNode', interface: 'com.example.FromNode', member: 'ReadFd', signature: 'h', body: [0] }, { fds: [fd] });
        assert.deepEqual(reply.body, ['through the fd']);
      } finally {
        c.close();
      }
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
