// `npm run bench -- broker`: the same sd-bus C client and service (built here
// with cc) through three buses started in the same run — fastbus, dbus-daemon
// and dbus-broker (socket-activated in a private mount namespace with a
// journald stub) — taking turns within each repetition. Rows: call round trip
// p50/p99, pipelined calls/s (128 outstanding), signals delivered/s to 1 and 4
// subscribers, 1 MiB and 16 MiB `ay` round trips, broker memory, and (as
// root) fastbus's fairness: root's p99 while uid 65534 floods (fairness.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import os from 'node:os';
import path from 'node:path';
import { buildC, repoRoot } from '../c-program.js';
import { fairnessSkipReason, measureFairness } from './fairness.js';
import { median, type BenchContext, type GroupResult, type Row, type Table } from '../harness.js';
import { connectBus, type MessageStream } from '../../src/transport/index.js';
import { encodeMessage, MessageType } from '../../src/wire/index.js';
import { startupTables } from './startup.js';

export type BusName = 'fastbus' | 'fastbus --busy-poll-us=0' | 'dbus-daemon' | 'dbus-broker';
/** The second fastbus is the same daemon with busy polling off: what polling adds, in the same run. */
const BUSES: BusName[] = ['fastbus', 'fastbus --busy-poll-us=0', 'dbus-daemon', 'dbus-broker'];

export interface Bus {
  name: BusName;
  address: string;
  child: ChildProcess;
  /** The process that routes messages (for memory). */
  brokerPid(): number;
  service: ChildProcess;
}

/** Waits for text on a child's stdout (or another of its pipes), which it keeps draining. */
export function lines(child: ChildProcess, stream: Readable = child.stdout!): { next(re: RegExp): Promise<string> } {
  let out = '';
  let waiters: Array<() => void> = [];
  // The end of the pipe, not the process's exit: 'exit' can come before the last output is read.
  let ended = false;
  stream.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.splice(0)) w();
  });
  stream.once('end', () => {
    ended = true;
    for (const w of waiters.splice(0)) w();
  });
  return {
    next: (re) => new Promise((resolve, reject) => {
      const check = (): void => {
        const m = re.exec(out);
        if (m) {
          out = out.slice(m.index + m[0].length);
          resolve(m[0]);
        } else if (ended) reject(new Error(`${child.spawnfile} ended its output without printing ${re}`));
        else waiters.push(check);
      };
      check();
    }),
  };
}

export function runToEnd(argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${argv.join(' ')} exited with ${code}`))));
  });
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** CPU time a process has run so far, in µs (schedstat: ns precision, unlike the tick-based times). */
export function cpuUs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1000;
}

/** VmRSS and VmHWM of a process in KiB. */
function memoryKiB(pid: number): { rss: number; hwm: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return { rss: get('VmRSS'), hwm: get('VmHWM'), file: get('RssFile') };
}

export async function startBus(name: BusName, dir: string, peer: string): Promise<Bus> {
  const sock = path.join(dir, `${name.replace(/\W+/g, '-')}.sock`);
  let child: ChildProcess;
  let brokerPid: () => number;
  if (name.startsWith('fastbus')) {
    const flags = name.split(' ').slice(1);
    child = spawn(process.execPath, [path.join(repoRoot, 'bin/fastbus.cjs'), 'daemon', '--session', '--nofork', '--print-address', ...flags, `--address=unix:path=${sock}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    brokerPid = () => child.pid!;
  } else if (name === 'dbus-daemon') {
    child = spawn('dbus-daemon', ['--session', '--nofork', '--print-address', `--address=unix:path=${sock}`], { stdio: ['ignore', 'pipe', 'ignore'] });
    brokerPid = () => child.pid!;
  } else {
    // dbus-broker-launch needs socket activation, DBUS_SESSION_BUS_ADDRESS and a journald socket.
    const stub = path.join(dir, 'journal-stub.py');
    writeFileSync(stub, 'import socket, sys\ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("bound", flush=True)\nwhile True:\n    s.recv(65536)\n');
    const script = path.join(dir, 'dbus-broker.sh');
    writeFileSync(script, [
      '#!/bin/sh', 'set -e', 'mkdir -p /run/systemd/journal', 'mount -t tmpfs tmpfs /run/systemd/journal',
      // The stub says "bound" through a fifo; read returns once it has (or fails if the stub died).
      `rm -f ${dir}/stub.ready && mkfifo ${dir}/stub.ready`,
      `/usr/bin/python3 ${stub} /run/systemd/journal/socket > ${dir}/stub.ready &`,
      `read bound < ${dir}/stub.ready`,
      `echo unix:path=${sock}`,
      `exec systemd-socket-activate -l ${sock} -E DBUS_SESSION_BUS_ADDRESS=unix:path=${sock} dbus-broker-launch --scope user`,
    ].join('\n'), { mode: 0o755 });
    child = spawn('unshare', ['-m', script], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    brokerPid = () => childrenOf(child.pid!).find((p) => comm(p) === 'dbus-broker') ?? child.pid!;
    // The script prints the address before systemd-socket-activate exists; it logs
    // "Listening on <path>" once the socket listens (connections then wait in its backlog
    // until dbus-broker takes them). fastbus and dbus-daemon print their address only
    // once they listen.
    await lines(child, child.stderr!).next(/Listening on /);
  }
  const address = (await lines(child).next(/unix:path=[^\n]*\n/)).trim();
  // The service prints "ready" after Hello and RequestName were answered: the bus serves clients.
  const service = spawn(peer, ['service', address], { stdio: ['ignore', 'pipe', 'inherit'] });
  await lines(service).next(/ready/);
  return { name, address, child, brokerPid, service };
}

export async function stopBus(bus: Bus): Promise<void> {
  bus.service.kill();
  const exited = new Promise((r) => bus.child.once('exit', r));
  if (bus.name === 'dbus-broker') process.kill(-bus.child.pid!, 'SIGTERM');
  else bus.child.kill();
  await exited;
}

async function signalsPerSecond(peer: string, address: string, subscribers: number, count: number): Promise<number> {
  const subs = Array.from({ length: subscribers }, () => spawn(peer, ['subscribe', address, String(count)], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const outs = subs.map((s) => lines(s));
  try {
    await Promise.all(outs.map((o) => o.next(/ready/)));
    const dones = outs.map((o) => o.next(/done \d+\n/));
    dones.forEach((d) => d.catch(() => undefined));
    const emitOut = await runToEnd([peer, 'emit', address, String(count)]);
    const start = Number(/start (\d+)/.exec(emitOut)![1]);
    const ends = (await Promise.all(dones)).map((d) => Number(d.split(' ')[1]));
    return (count * subscribers) / ((Math.max(...ends) - start) / 1e9);
  } finally {
    for (const s of subs) if (s.exitCode === null && s.signalCode === null) s.kill();
  }
}

/** Opens `n` idle connections (authenticated, Hello said) and returns a closer. */
async function idleConnections(address: string, n: number): Promise<() => void> {
  const streams: MessageStream[] = [];
  for (let i = 0; i < n; i++) {
    const { stream } = await connectBus(address);
    stream.onMessage = () => undefined;
    stream.resume();
    stream.send(encodeMessage({ type: MessageType.METHOD_CALL, flags: 0, serial: 1, destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'Hello', body: [] }));
    streams.push(stream);
  }
  return () => { for (const s of streams) s.close(); };
}

export async function run(ctx: BenchContext): Promise<GroupResult> {
  const peer = buildC('c/sdbus-peer.c', ['-lsystemd']);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fastbus-bench-broker-'));
  const q = ctx.quick;
  const n = { rtt: q ? 2000 : 10000, pipeline: q ? 20000 : 100000, signals: q ? 10000 : 50000, mib1: q ? 5 : 20, mib16: q ? 3 : 5, idle: q ? 100 : 400, paced: q ? 500 : 2000, warm: q ? 3000 : 20000 };
  const samples = new Map<string, Map<BusName, number[]>>();
  const add = (key: string, bus: BusName, v: number): void => {
    let m = samples.get(key);
    if (!m) samples.set(key, (m = new Map()));
    const l = m.get(bus) ?? [];
    l.push(v);
    m.set(bus, l);
  };
  const buses: Bus[] = [];
  /** Signal runs that gave no sample, and why. */
  const dropped = new Map<BusName, string[]>();
  /** File-backed resident MiB at the end (executable and libraries; shared, not per-bus state). */
  const fileBacked = new Map<BusName, number>();
  try {
    for (const b of BUSES) {
      ctx.progress(`broker: starting ${b}`);
      buses.push(await startBus(b, dir, peer));
    }
    for (const bus of buses) {
      // Every bus first carries the same untimed calls: V8 optimizes fastbus's
      // hot path during its first few thousand messages, and a fresh Node
      // process touches its young-generation pages in its first few MB of
      // allocation (a one-time cost, not per connection). The rows below are
      // the steady state of a bus that has been running.
      await runToEnd([peer, 'rtt', bus.address, String(n.warm)]);
      const pid = bus.brokerPid();
      const before = memoryKiB(pid).rss;
      const close = await idleConnections(bus.address, n.idle);
      await runToEnd([peer, 'rtt', bus.address, '10']);
      add('idle', bus.name, (memoryKiB(pid).rss - before) / n.idle);
      close();
    }
    for (let rep = 0; rep < ctx.repeat; rep++) {
      for (const bus of buses) {
        ctx.progress(`broker: ${bus.name} repetition ${rep + 1}/${ctx.repeat}`);
        const cpu0 = cpuUs(bus.brokerPid());
        const [p50, p99] = (await runToEnd([peer, 'rtt', bus.address, String(n.rtt)])).trim().split(' ').map(Number);
        add('rttcpu', bus.name, (cpuUs(bus.brokerPid()) - cpu0) / n.rtt);
        add('p50', bus.name, p50);
        add('p99', bus.name, p99);
        // Calls spaced past polling's longest window: polling cannot save the wake-up of each next call.
        const paced0 = cpuUs(bus.brokerPid());
        await runToEnd([peer, 'paced', bus.address, String(n.paced), '200']);
        add('pacedcpu', bus.name, (cpuUs(bus.brokerPid()) - paced0) / n.paced);
        add('pipeline', bus.name, Number(await runToEnd([peer, 'pipeline', bus.address, String(n.pipeline), '128'])));
        for (const [key, subscribers] of [['sig1', 1], ['sig4', 4]] as const) {
          try {
            add(key, bus.name, await signalsPerSecond(peer, bus.address, subscribers, n.signals));
          } catch (e) {
            // A bus may drop subscribers that fall behind a flood (dbus-broker's quotas do): no number, but say why.
            dropped.set(bus.name, [...(dropped.get(bus.name) ?? []), `${subscribers} subscriber(s): ${(e as Error).message}`]);
          }
        }
        add('mib1', bus.name, Number(await runToEnd([peer, 'bytes', bus.address, String(1 << 20), String(n.mib1)])) / 1000);
        add('mib16', bus.name, Number(await runToEnd([peer, 'bytes', bus.address, String(16 << 20), String(n.mib16)])) / 1000);
      }
    }
    for (const bus of buses) {
      const m = memoryKiB(bus.brokerPid());
      add('hwm', bus.name, m.hwm / 1024);
      fileBacked.set(bus.name, m.file / 1024);
    }
  } finally {
    for (const b of buses) await stopBus(b).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
  // Fairness: on its own bus, after the others have stopped.
  const fairSkip = fairnessSkipReason();
  const fair = fairSkip === undefined
    ? await measureFairness(peer, { calls: q ? 100 : 300, reps: ctx.repeat, processes: q ? 1 : 2, warm: n.warm }, ctx.progress)
    : undefined;
  const fairIdle = 'fastbus, idle bus';
  const fairFlood = `fastbus, uid 65534 flooding from ${fair?.connections ?? 0} connections`;
  const startup = await startupTables(ctx);
  const table = (key: string, title: string, unit: string, higherIsBetter: boolean): Table => {
    const rows: Row[] = BUSES.map((b) => ({ label: b, samples: samples.get(key)?.get(b) ?? [], unit, higherIsBetter }));
    const f = median(rows[BUSES.indexOf('fastbus')].samples);
    const d = median(rows[BUSES.indexOf('dbus-broker')].samples);
    const vsBroker = higherIsBetter ? f / d : d / f;
    return { title, rows, baseline: 'dbus-daemon', note: `fastbus vs dbus-broker: ${vsBroker.toFixed(2)}x` };
  };
  return {
    tables: [
      table('p50', 'method call round trip, p50', 'µs', false),
      table('p99', 'method call round trip, p99', 'µs', false),
      table('rttcpu', 'broker CPU time per round trip (two messages routed)', 'µs', false),
      table('pacedcpu', 'broker CPU time per round trip, client sleeping 200 µs between calls', 'µs', false),
      table('pipeline', 'pipelined calls/s, 128 outstanding', 'calls/s', true),
      table('sig1', 'signals delivered/s, 1 subscriber', 'signals/s', true),
      table('sig4', 'signals delivered/s, 4 subscribers', 'signals/s', true),
      table('mib1', '1 MiB ay round trip', 'ms', false),
      table('mib16', '16 MiB ay round trip', 'ms', false),
      table('idle', `broker RSS per idle connection (${n.idle} connections)`, 'KiB', false),
      table('hwm', 'broker peak RSS over the whole run (VmHWM)', 'MiB', false),
      ...(fair ? [{
        title: "fairness: root's method call round trip p99 while another user floods", baseline: fairIdle,
        rows: [
          { label: fairIdle, samples: fair.idle, unit: 'µs', higherIsBetter: false },
          { label: fairFlood, samples: fair.flooded, unit: 'µs', higherIsBetter: false },
        ],
        note: `flooded vs idle: ${(median(fair.flooded) / median(fair.idle)).toFixed(2)}x the p99`,
      }] : []),
      ...startup,
    ],
    notes: [
      'The same sd-bus C client and service (bench/c/sdbus-peer.c, built with cc) against each bus; buses take turns within each repetition; no process is pinned, so wake-ups cross both vCPUs.',
      'dbus-daemon runs with Debian\'s session.conf; dbus-broker through dbus-broker-launch --scope user (socket-activated, in a private mount namespace with a journald stub); fastbus via `fastbus daemon --session`.',
      'fastbus runs twice: with its default --busy-poll-us=100 and with polling off. With polling, after handling messages it polls up to 100 µs (adaptive) before sleeping, so a reply arriving within that window needs no wake-up of the bus; its CPU cost is in the two broker-CPU rows (schedstat run time of the broker process, polling included): back-to-back round trips, and round trips with the client sleeping 200 µs between calls (nanosleep, so about 250 µs apart: past the 100 µs window, where polling cannot save the wake-up of each next call).',
      'Start-up (bench/broker/startup.ts): from spawning the bus (Debian\'s session.conf) to its first answered Hello, dbus-daemon and fastbus taking turns with a bare `node -e 0`; ratios there are against `node -e 0`. "fastbus" is `fastbus daemon` as users start it (bin/fastbus.cjs: the daemon in one file with its V8 code cache); "fastbus, from its modules" is `node dist/src/cli/main.js daemon` (Node\'s ESM loader, about 75 files): what the one file saves.',
      'Ratios are against dbus-daemon; each table notes fastbus (default, polling) against dbus-broker. 2 shared vCPUs: expect ±30% between runs.',
      `Before any row each bus carries ${n.warm} untimed calls (steady state: V8 optimizes fastbus's hot path in its first few thousand messages; before that its p99 is several times higher).`,
      `RSS per idle connection: after those calls, ${n.idle} connections say Hello and stay idle; the RSS difference over ${n.idle}.`,
      `Peak RSS includes file-backed pages (the executable and its libraries, shared with other processes): at the end ${BUSES.map((b) => `${b} ${(fileBacked.get(b) ?? 0).toFixed(1)} MiB`).join(', ')}.`,
      fair
        ? `Fairness: a fastbus bus of its own (any user may connect; default per-user limits), the same sd-bus service and client as root; in each repetition an idle run, then a run while uid 65534 floods from ${fair.connections} connections that never read (no-reply calls to the service, calls whose replies it does not read, broadcast signals to each other, calls to a name whose owner does not read); the flood is killed after each run.`
        : `Fairness row not measured: ${fairSkip}.`,
      ...[...dropped].map(([bus, why]) => `${bus}: ${why.length} signal run(s) gave no sample (${why.join('; ')}).`),
    ],
  };
}
