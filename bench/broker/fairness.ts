// The fairness row of `npm run bench -- broker`: root's call round trip p99
// through a fastbus bus while uid 65534 floods it from hundreds of
// connections that stop reading, against the same p99 on the idle bus, taking
// turns in one run. Needs root (to run the flood as uid 65534); the bus runs
// with a config that lets any user connect.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../c-program.js';
import type { FloodPlan } from '../../test/fixtures/flood-peer.js';
import { connectBus } from '../../src/transport/index.js';
import { decodeMessage, encodeMessage, MessageFlags, MessageType, type Message, type Variant } from '../../src/wire/index.js';

const NOBODY = 65534;
const DBUS = { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus' };
const BENCH = { destination: 'org.fastbus.Bench', path: '/org/fastbus/Bench', interface: 'org.fastbus.Bench', member: 'Echo' };

/** Why the row cannot be measured here, or undefined. */
export function fairnessSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to run the flood as uid 65534';
  const r = spawnSync(process.execPath, ['-e', '0'], { uid: NOBODY, gid: NOBODY, stdio: 'ignore' });
  if (r.status !== 0) return `uid 65534 cannot run ${process.execPath}`;
  return undefined;
}

function b64(m: Partial<Message>): string {
  return encodeMessage({ type: MessageType.METHOD_CALL, flags: 0, serial: 1, body: [], ...m } as Message).toString('base64');
}

/** One flooding process's plan: callers that do not read their replies, no-reply callers, signals to non-readers, calls to a sink. */
function plan(socket: string, k: number): FloodPlan {
  const small = 'f'.repeat(1024);
  const big = 'F'.repeat(8 * 1024);
  const sink = `org.fastbus.Sink${k}`;
  return {
    socket,
    hello: b64({ ...DBUS, member: 'Hello' }),
    groups: [
      { connections: 50, prelude: [], flood: [b64({ ...BENCH, flags: MessageFlags.NO_REPLY_EXPECTED, signature: 's', body: [small] })] },
      { connections: 25, prelude: [], flood: [b64({ ...BENCH, signature: 's', body: [big] })] },
      { connections: 25, prelude: [b64({ ...DBUS, member: 'AddMatch', signature: 's', body: ["type='signal',interface='org.fastbus.Flood'"] })],
        flood: [b64({ type: MessageType.SIGNAL, path: '/flood', interface: 'org.fastbus.Flood', member: 'Tick', signature: 's', body: [small] })] },
      { connections: 1, prelude: [b64({ ...DBUS, member: 'RequestName', signature: 'su', body: [sink, 4] })], flood: [] },
      { connections: 24, prelude: [], flood: [b64({ destination: sink, path: '/sink', interface: 'org.fastbus.Sink', member: 'Take', flags: MessageFlags.NO_REPLY_EXPECTED, signature: 's', body: [big] })] },
    ],
  };
}

/** Resolves with the first line of `child`'s stdout matching `re`. */
function lineOf(child: ChildProcess, re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = re.exec(out);
      if (m) resolve(m[0]);
    });
    child.once('close', () => reject(new Error(`${child.spawnfile} ended without printing ${re}`)));
  });
}

function runToEnd(argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${argv.join(' ')} exited with ${code}`))));
  });
}

/** A connection that asks the bus how many connections it has (Debug.Stats ActiveConnections). */
async function statsClient(address: string): Promise<{ active(): Promise<number>; close(): void }> {
  const { stream } = await connectBus(address);
  let serial = 0;
  let waiting: ((n: number) => void) | undefined;
  let asked = 0;
  stream.onMessage = (frame) => {
    const m = decodeMessage(frame);
    if (m.replySerial !== asked || !waiting) return;
    waiting((m.body[0] as Map<string, Variant>).get('ActiveConnections')!.value as number);
    waiting = undefined;
  };
  stream.resume();
  const send = (member: string, iface = DBUS.interface): number => {
    stream.send(encodeMessage({ type: MessageType.METHOD_CALL, flags: 0, serial: ++serial, ...DBUS, interface: iface, member, body: [] }));
    return serial;
  };
  send('Hello');
  return {
    active: () => new Promise((resolve) => {
      waiting = resolve;
      asked = send('GetStats', 'org.freedesktop.DBus.Debug.Stats');
    }),
    close: () => stream.close(),
  };
}

/** Samples of root's call p99 (µs) on the idle bus and during the flood, `reps` turns each. */
export async function measureFairness(peer: string, opts: { calls: number; reps: number; processes: number; warm: number }, progress: (s: string) => void): Promise<{ idle: number[]; flooded: number[]; connections: number }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fastbus-bench-fairness-'));
  chmodSync(dir, 0o755);
  const socket = path.join(dir, 'bus');
  const config = path.join(dir, 'bus.conf');
  writeFileSync(config, `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:path=${socket}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>
`);
  const script = path.join(dir, 'flood-peer.mjs');
  copyFileSync(path.join(repoRoot, 'dist/test/fixtures/flood-peer.js'), script);
  chmodSync(script, 0o644);
  const children: ChildProcess[] = [];
  const bus = spawn(process.execPath, [path.join(repoRoot, 'bin/fastbus.cjs'), 'daemon', `--config-file=${config}`, '--nofork', '--print-address'], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(bus);
  const idle: number[] = [];
  const flooded: number[] = [];
  let connections = 0;
  let stats: Awaited<ReturnType<typeof statsClient>> | undefined;
  try {
    const address = (await lineOf(bus, /unix:path=[^\n]*\n/)).trim();
    chmodSync(socket, 0o666);
    const service = spawn(peer, ['service', address], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(service);
    await lineOf(service, /ready/);
    await runToEnd([peer, 'rtt', address, String(opts.warm)]);
    stats = await statsClient(address);
    const quiet = await stats.active();
    const p99 = async (): Promise<number> => Number((await runToEnd([peer, 'rtt', address, String(opts.calls)])).trim().split(' ')[1]);
    for (let rep = 0; rep < opts.reps; rep++) {
      progress(`broker: fairness repetition ${rep + 1}/${opts.reps}`);
      idle.push(await p99());
      const floods: ChildProcess[] = [];
      for (let k = 0; k < opts.processes; k++) {
        const p = plan(socket, k);
        connections = opts.processes * p.groups.reduce((n, g) => n + g.connections, 0);
        const planFile = path.join(dir, `plan${k}.json`);
        writeFileSync(planFile, JSON.stringify(p), { mode: 0o644 });
        const f = spawn(process.execPath, [script, planFile], { uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'inherit'] });
        floods.push(f);
        children.push(f);
      }
      await Promise.all(floods.map((f) => lineOf(f, /ready/)));
      flooded.push(await p99());
      await Promise.all(floods.map((f) => (f.exitCode !== null || f.signalCode !== null ? undefined : new Promise((r) => {
        f.once('exit', r);
        f.kill('SIGKILL');
      }))));
      // The next idle run starts once the bus has let go of every flooding connection.
      while (await stats.active() > quiet);
    }
  } finally {
    stats?.close();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  return { idle, flooded, connections };
}
