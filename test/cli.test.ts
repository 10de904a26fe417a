// The `fastbus` command line against a real dbus-daemon and a fastbus
// service: output in busctl's syntax and as JSON, exit codes and messages for
// each kind of failure, monitor, and codegen output checked by the compiler.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type Connection, defineInterface, Variant } from '../src/client/index.js';
import { startBus, type BusKind, type TestBus } from './fixtures/bus.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const main = path.join(root, 'bin', 'fastbus.cjs');
const impl = {
  Label: 'start',
  Add: (a: number, b: number) => a + b,
  Never: () => new Promise(() => undefined),
  Info: () => ({ name: new Variant('s', 'calc'), version: new Variant('t', 2n ** 40n) }),
};

const Calc = defineInterface({
  name: 'com.example.Cli',
  methods: {
    Add: { in: [{ name: 'a', type: 'i' }, { name: 'b', type: 'i' }], out: [{ name: 'sum', type: 'i' }] },
    Never: {},
    Info: { out: 'a{sv}' },
  },
  properties: { Label: { type: 's', access: 'readwrite' } },
  signals: { Changed: { args: [{ name: 'what', type: 's' }, { name: 'n', type: 'u' }] } },
});

for (const kind of ['dbus-daemon', 'fastbus'] as BusKind[]) describe(`the command line on ${kind}`, () => {
  let daemon: TestBus;
  let service: Connection;

  before(async () => {
    impl.Label = 'start';
    daemon = await startBus(kind);
    service = await connect(daemon.address);
    service.export('/com/example/Cli', Calc, impl);
    service.export('/com/example/Cli/sub', Calc, impl);
    await service.requestName('com.example.Cli');
  });

  after(async () => {
    service?.close();
    await daemon?.stop();
  });

  function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [main, ...args], { env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: daemon.address } }, (error, stdout, stderr) => {
        resolve({ code: error ? (error as { code?: number }).code ?? 1 : 0, stdout, stderr });
      });
    });
  }

  test('call takes busctl arguments and prints the reply in the same syntax or as JSON', async () => {
    assert.deepEqual(await cli('call', 'com.example.Cli', '/com/example/Cli', 'com.example.Cli', 'Add', 'ii', '2', '--', '-5'), { code: 0, stdout: 'i -3\n', stderr: '' });
    const j = await cli('call', '--json', 'com.example.Cli', '/com/example/Cli', 'com.example.Cli', 'Info');
    assert.equal(j.code, 0);
    assert.deepEqual(JSON.parse(j.stdout), { type: 'a{sv}', data: [{ name: { type: 's', data: 'calc' }, version: { type: 't', data: 2 ** 40 } }] });
    const r = await cli('call', 'com.example.Cli', '/com/example/Cli', 'com.example.Cli', 'Info');
    assert.equal(r.stdout, 'a{sv} 2 "name" s "calc" "version" t 1099511627776\n');
  });

  test('call reads and prints values exactly as busctl does', async () => {
    const echo = await connect(daemon.address);
    const cases: [string, string[]][] = [
      ['a{sv}', ['2', 'k', 's', 'v "q"', 'n', 'i', '5']], ['ai', ['3', '1', '2', '3']], ['(si)', ['x y', '7']], ['b', ['true']],
      ['ay', ['3', '1', '2', '255']], ['a(sv)', ['1', 'x', 'u', '4']], ['d', ['2.5']], ['o', ['/a/b']], ['g', ['a{sv}']],
      ['v', ['as', '2', 'x', 'y']], ['a{ia{ss}}', ['1', '5', '1', 'k', 'v']], ['t', ['18446744073709551615']], ['x', ['--', '-9000000000']],
    ];
    const methods: Record<string, { in: string; out: string }> = {};
    const handlers: Record<string, (v: unknown) => unknown> = {};
    cases.forEach(([sig], i) => {
      methods[`E${i}`] = { in: sig, out: sig };
      handlers[`E${i}`] = (v) => v;
    });
    echo.export('/echo', defineInterface({ name: 'com.example.Echo', methods }), handlers);
    try {
      for (const [i, [sig, args]] of cases.entries()) {
        const argv = ['com.example.Cli', '/echo', 'com.example.Echo', `E${i}`, sig, ...args];
        const ours = await cli('call', '--address', daemon.address, ...argv.map((a, k) => (k === 0 ? echo.uniqueName : a)));
        const theirs = await new Promise<string>((resolve, reject) => execFile('busctl', ['--address', daemon.address, 'call', echo.uniqueName, ...argv.slice(1)], (e, out, err) => (e ? reject(new Error(err)) : resolve(out))));
        assert.equal(ours.stdout, theirs, `signature ${sig}`);
      }
    } finally {
      echo.close();
    }
  });

  test('call failures say what went wrong, with distinct exit codes', async () => {
    const unknown = await cli('call', 'com.example.Nobody', '/', 'com.example.X', 'Y');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown name.*org\.freedesktop\.DBus\.Error\.ServiceUnknown/);
    const method = await cli('call', 'com.example.Cli', '/com/example/Cli', 'com.example.Cli', 'Nope');
    assert.equal(method.code, 1);
    assert.match(method.stderr, /no such method/);
    const sig = await cli('call', 'com.example.Cli', '/com/example/Cli', 'com.example.Cli', 'Add', 'i(', '1');
    assert.equal(sig.code, 2);
    assert.match(sig.stderr, /invalid signature/);
    const arg = await cli('call', 'com.example.Cli', '/com/example/Cli', 'com.example.Cli', 'Add', 'ii', '1', 'two');
    assert.equal(arg.code, 2);
    assert.match(arg.stderr, /'two' is not an integer/);
    const few = await cli('call', 'com.example.Cli', '/com/example/Cli', 'com.example.Cli', 'Add', 'ii', '1');
    assert.equal(few.code, 2);
    assert.match(few.stderr, /needs more arguments/);
    // --timeout also bounds connecting: long enough that a loaded machine still connects in time.
    const timeout = await cli('call', '--timeout', '1s', 'com.example.Cli', '/com/example/Cli', 'com.example.Cli', 'Never');
    assert.equal(timeout.code, 4);
    assert.match(timeout.stderr, /timeout: .*no reply within 1000 ms/);
    const connectFail = await cli('call', '--address', 'unix:path=/nonexistent/bus', 'a.b', '/', 'a.b', 'C');
    assert.equal(connectFail.code, 3);
    assert.match(connectFail.stderr, /cannot connect to unix:path=\/nonexistent\/bus: .*ENOENT/);
    const noBus = await new Promise<{ code: number; stderr: string }>((resolve) => {
      const env: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: '/nonexistent' };
      delete env.DBUS_SESSION_BUS_ADDRESS;
      execFile(process.execPath, [main, 'list'], { env }, (e, _o, stderr) => resolve({ code: e ? (e as { code?: number }).code ?? 1 : 0, stderr }));
    });
    assert.equal(noBus.code, 3);
    assert.match(noBus.stderr, /cannot connect to the session bus: .*DBUS_SESSION_BUS_ADDRESS is not set/);
    const usage = await cli('call', 'only-one');
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /usage: fastbus call/);
    assert.equal((await cli('frobnicate')).code, 2);
  });

  test('get-property and set-property read and write a property', async () => {
    assert.equal((await cli('get-property', 'com.example.Cli', '/com/example/Cli', 'com.example.Cli', 'Label')).stdout, 's "start"\n');
    assert.equal((await cli('set-property', 'com.example.Cli', '/com/example/Cli', 'com.example.Cli', 'Label', 's', 'changed')).code, 0);
    assert.equal(impl.Label, 'changed');
    const wrong = await cli('set-property', 'com.example.Cli', '/com/example/Cli', 'com.example.Cli', 'Label', 'u', '5');
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /InvalidArgs/);
  });

  test('emit sends a signal a subscriber receives', async () => {
    const watcher = await connect(daemon.address);
    try {
      const it = await watcher.signals({ interface: 'com.example.Cli', member: 'Changed' });
      assert.equal((await cli('emit', '/com/example/Cli', 'com.example.Cli', 'Changed', 'su', 'colour', '3')).code, 0);
      const m = (await it.next()).value!;
      assert.deepEqual([m.path, m.body], ['/com/example/Cli', ['colour', 3]]);
    } finally {
      watcher.close();
    }
  });

  test('introspect, tree, list and status describe the service', async () => {
    impl.Label = 'as introspected';
    const i = await cli('introspect', 'com.example.Cli', '/com/example/Cli');
    assert.equal(i.code, 0);
    assert.match(i.stdout, /^\.Add +method +ii +i +-$/m);
    assert.match(i.stdout, /^\.Label +property +s +"as introspected" +writable$/m);
    assert.match(i.stdout, /^\.Changed +signal +su/m);
    const t = await cli('tree', 'com.example.Cli');
    assert.equal(t.stdout, '/\n└─ /com\n   └─ /com/example\n      └─ /com/example/Cli\n         └─ /com/example/Cli/sub\n');
    const l = await cli('list', '--json');
    const rows = JSON.parse(l.stdout) as { name: string; pid?: number; uniqueName?: string }[];
    const mine = rows.find((r) => r.name === 'com.example.Cli')!;
    assert.equal(mine.pid, process.pid);
    assert.equal(mine.uniqueName, service.uniqueName);
    const readable = await cli('list');
    assert.match(readable.stdout, new RegExp(`^com\\.example\\.Cli +${process.pid} +node +\\S+ +${service.uniqueName.replace('.', '\\.')}$`, 'm'));
    const s = await cli('status', '--json', 'com.example.Cli');
    assert.equal((JSON.parse(s.stdout) as { pid: number }).pid, process.pid);
    const none = await cli('status', 'com.example.Nobody');
    assert.equal(none.code, 1);
    assert.match(none.stderr, /NameHasNoOwner/);
  });

  test('monitor prints the traffic of a name as JSON lines', { timeout: 20000 }, async () => {
    const child = spawn(process.execPath, [main, 'monitor', '--json', '--count', '2', 'com.example.Cli'], { env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: daemon.address } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise<void>((resolve) => child.stderr.once('data', () => resolve()));
    const exited = new Promise((r) => child.once('close', r));
    await cli('call', 'com.example.Cli', '/com/example/Cli', 'com.example.Cli', 'Add', 'ii', '20', '22');
    assert.equal(await exited, 0);
    const [call, ret] = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual([call.type, call.member, call.signature, call.data], ['method_call', 'Add', 'ii', [20, 22]]);
    assert.deepEqual([ret.type, ret.data, ret.replySerial], ['method_return', [42], call.serial]);
  });

  // The generated code imports the built client (dist/src, its .d.ts files): type-checking against the
  // sources instead took over 30 s per check on a loaded 2-core machine. The watchdog leaves room for both.
  test('codegen output from a live service type-checks, and misuse of the generated types does not', { timeout: 240_000 }, async () => {
    const dir = path.join(root, 'dist', `codegen-check-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    try {
      const gen = await cli('codegen', '--dest', 'com.example.Cli', '--path', '/com/example/Cli', '--import-from', '../src/client/index.js', '--out', path.join(dir, 'cli-types.ts'));
      assert.equal(gen.code, 0, gen.stderr);
      writeFileSync(path.join(dir, 'use.ts'), `import { connect, type Variant } from '../src/client/index.js';
  import { ComExampleCliInterface, type ComExampleCli, type ComExampleCliImplementation, type ComExampleCliSignals } from './cli-types.js';
  const impl: ComExampleCliImplementation = {
    Label: 'x',
    Add: (a, b) => a + b,
    Never: async () => undefined,
    Info: () => ({}) as Record<string, Variant>,
  };
  export async function use(address: string): Promise<number> {
    const bus = await connect(address);
    bus.export('/x', ComExampleCliInterface, impl);
    const p = (await bus.proxy('com.example.Cli', '/x')).getInterface<ComExampleCli>('com.example.Cli');
    const n: number = await p.Add(1, 2, { timeoutMs: 100 });
    const changed: ComExampleCliSignals['Changed'] = ['what', 1];
    // @ts-expect-error Add takes numbers
    await p.Add('1', 2);
    // @ts-expect-error Add resolves to a number
    const s: string = await p.Add(1, 2);
    return n + changed[1] + s.length;
  }
  `);
      const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
      const args = ['--noEmit', '--strict', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--types', 'node', '--skipLibCheck', path.join(dir, 'use.ts')];
      const ok = await new Promise<{ code: number; out: string }>((resolve) => execFile(process.execPath, [tsc, ...args], (e, so, se) => resolve({ code: e ? 1 : 0, out: so + se })));
      assert.equal(ok.code, 0, ok.out);
      // The same file with a wrong implementation must fail to compile.
      writeFileSync(path.join(dir, 'bad.ts'), `import type { ComExampleCliImplementation } from './cli-types.js';
  export const impl: ComExampleCliImplementation = { Label: 1, Add: (a: number, b: number) => String(a + b), Never: () => undefined, Info: () => ({}) };
  `);
      const bad = await new Promise<{ code: number; out: string }>((resolve) => execFile(process.execPath, [tsc, ...args.slice(0, -1), path.join(dir, 'bad.ts')], (e, so, se) => resolve({ code: e ? 1 : 0, out: so + se })));
      assert.equal(bad.code, 1);
      assert.match(bad.out, /bad\.ts\(2,\d+\): error TS2322: Type 'number' is not assignable to type 'string'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
