// `npm run bench -- direct`: the direct path against the buses it replaces.
// Columns: the sd-bus C client and service on dbus-daemon and on dbus-broker
// (bench/broker starts them), the fastbus client and service through a
// fastbus bus with the direct path off (the client says 'off'), the same pair
// direct (default, and with busy-polling channels, on a second fastbus bus),
// and the C eventfd ping-pong as the floor of a sleeping round trip. Rows:
// round trip p50/p99, the bus's CPU per round trip, pipelined calls/s (128
// outstanding), signals/s to 1 and 4 subscribers, 1 MiB and 16 MiB `ay` round trips.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildC, repoRoot } from '../c-program.js';
import { median, type BenchContext, type GroupResult, type Row, type Table } from '../harness.js';
import { cpuUs, lines, runToEnd, startBus, stopBus, type Bus } from '../broker/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const COLUMNS = ['sd-bus pair, dbus-daemon', 'sd-bus pair, dbus-broker', 'fastbus pair, bus (direct off)', 'fastbus pair, direct', 'fastbus pair, direct busy', 'C eventfd ping-pong'] as const;
type Column = (typeof COLUMNS)[number];

/** How one column runs a client mode: the command, and the pid whose CPU counts as the bus's. */
interface Runner {
  column: Column;
  /** Fraction of the timed counts this column runs (busy polling on a loaded 2-vCPU machine is slow to schedule); never of the warm-up. */
  scale: number;
  argv(mode: string, ...args: string[]): string[];
  busPid(): number;
}

interface FastbusBus {
  child: ChildProcess;
  address: string;
  service: ChildProcess;
}

async function startFastbus(dir: string, label: string, busy: boolean): Promise<FastbusBus> {
  const sock = path.join(dir, `${label}.sock`);
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin/fastbus.cjs'), 'daemon', '--session', '--nofork', '--print-address', `--address=unix:path=${sock}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const address = (await lines(child).next(/unix:path=[^\n]*\n/)).trim();
  const service = spawn(process.execPath, [path.join(here, 'peer.js'), 'service', address, 'auto', busy ? '1' : '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await lines(service).next(/ready/);
  return { child, address, service };
}

async function stopFastbus(b: FastbusBus): Promise<void> {
  b.service.kill();
  const exited = new Promise((r) => b.child.once('exit', r));
  b.child.kill();
  await exited;
}

/**
 * Signals/s from one emitter to `subscribers` subscribers: `warm` untimed ones first (the emitter
 * waits until every subscriber has them: steady state, as the calls' warm-up gives the call rows),
 * then `count` timed ones, which all must get.
 */
async function signalsPerSecond(r: Runner, subscribers: number, count: number, warm: number): Promise<number> {
  const subs = Array.from({ length: subscribers }, () => {
    const [cmd, ...args] = r.argv('subscribe', String(warm + count));
    return spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  });
  const outs = subs.map((s) => lines(s));
  try {
    // A subscriber prints its unique name before "ready": the emitter calls it after the warm-up (and a fastbus one until it is direct).
    const names = (await Promise.all(outs.map((o) => o.next(/(\S+ )?ready/)))).map((t) => t.split(' ')[0]).filter((t) => t !== 'ready');
    const dones = outs.map((o) => o.next(/done \d+\n/));
    dones.forEach((d) => d.catch(() => undefined));
    const emitOut = await runToEnd(r.argv('emit', String(count), String(warm), ...names));
    const start = Number(/start (\d+)/.exec(emitOut)![1]);
    const ends = (await Promise.all(dones)).map((d) => Number(d.split(' ')[1]));
    return (count * subscribers) / ((Math.max(...ends) - start) / 1e9);
  } finally {
    for (const s of subs) if (s.exitCode === null && s.signalCode === null) s.kill();
  }
}

export async function run(ctx: BenchContext): Promise<GroupResult> {
  const sdbus = buildC('c/sdbus-peer.c', ['-lsystemd']);
  const pingpong = buildC('channel/pingpong.c');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fastbus-bench-direct-'));
  const q = ctx.quick;
  const n = { rtt: q ? 2000 : 10000, pipeline: 100000, signals: q ? 30000 : 50000, signalsWarm: 20000, mib1: q ? 5 : 21, mib16: q ? 3 : 5, warm: 10000 };
  const samples = new Map<string, Map<Column, number[]>>();
  const add = (key: string, c: Column, v: number): void => {
    let m = samples.get(key);
    if (!m) samples.set(key, (m = new Map()));
    m.set(c, [...(m.get(c) ?? []), v]);
  };
  const buses: Bus[] = [];
  const fast: FastbusBus[] = [];
  const node = process.execPath;
  const peerJs = path.join(here, 'peer.js');
  try {
    ctx.progress('direct: starting dbus-daemon, dbus-broker and two fastbus buses');
    buses.push(await startBus('dbus-daemon', dir, sdbus), await startBus('dbus-broker', dir, sdbus));
    fast.push(await startFastbus(dir, 'fastbus', false), await startFastbus(dir, 'fastbus-busy', true));
    const cRunner = (column: Column, bus: Bus): Runner => ({ column, scale: 1, argv: (mode, ...a) => [sdbus, mode, bus.address, ...a], busPid: () => bus.brokerPid() });
    const fRunner = (column: Column, b: FastbusBus, direct: string, busy: string): Runner => ({
      column, scale: busy === '1' ? 0.5 : 1, busPid: () => b.child.pid!,
      // The same warm-up for every column: V8 optimizes the call path only after a few thousand calls
      // (in busy mode the p50 of 250-call windows fell from 38 to about 5 µs over the first 3500; a
      // fresh busy client took some 4000 calls to come down to about 10 µs, two processes that never
      // sleep holding both vCPUs while V8 compiles), so each client mode first makes 10000.
      argv: (mode, ...a) => ['env', `FASTBUS_BENCH_WARMUP=${n.warm}`, node, peerJs, mode, b.address, direct, busy, ...a],
    });
    const runners: Runner[] = [
      cRunner('sd-bus pair, dbus-daemon', buses[0]),
      cRunner('sd-bus pair, dbus-broker', buses[1]),
      fRunner('fastbus pair, bus (direct off)', fast[0], 'off', '0'),
      fRunner('fastbus pair, direct', fast[0], 'auto', '0'),
      fRunner('fastbus pair, direct busy', fast[1], 'auto', '1'),
    ];
    for (const r of runners) await runToEnd(r.argv('rtt', '10'));
    for (let rep = 0; rep < ctx.repeat; rep++) {
      for (const r of runners) {
        ctx.progress(`direct: ${r.column}, repetition ${rep + 1}/${ctx.repeat}`);
        const rtt = Math.round(n.rtt * r.scale);
        const cpu0 = cpuUs(r.busPid());
        const [p50, p99] = (await runToEnd(r.argv('rtt', String(rtt)))).trim().split(' ').map(Number);
        // The fastbus client makes its warm-up calls in the same run: they count, so the CPU is per call of the whole run.
        const calls = r.column.startsWith('fastbus') ? rtt + n.warm : rtt;
        add('rttcpu', r.column, (cpuUs(r.busPid()) - cpu0) / calls);
        add('p50', r.column, p50);
        add('p99', r.column, p99);
        add('pipeline', r.column, Number(await runToEnd(r.argv('pipeline', String(Math.round(n.pipeline * r.scale)), '128'))));
        for (const [key, subscribers] of [['sig1', 1], ['sig4', 4]] as const) {
          try {
            add(key, r.column, await signalsPerSecond(r, subscribers, Math.round(n.signals * r.scale), n.signalsWarm));
          } catch (e) {
            ctx.progress(`direct: ${r.column}: ${subscribers} subscriber(s) gave no sample: ${(e as Error).message}`);
          }
        }
        for (const [key, size] of [['mib1', 1 << 20], ['mib16', 16 << 20]] as const) {
          // Untimed calls of the size first (steady state, as the warm-up Echo calls are for the small
          // rows): as many as are timed, and at least 16 MiB; the first of all, a new client's first
          // large call, is its own row.
          const untimed = Math.max(n[key], Math.ceil((16 << 20) / size));
          const [median, first] = (await runToEnd(r.argv('bytes', String(size), String(n[key]), String(untimed)))).trim().split(' ').map(Number);
          add(key, r.column, median / 1000);
          add(`${key}first`, r.column, first / 1000);
        }
      }
      const [p50, p99] = execFileSync(pingpong, ['eventfd', String(n.rtt)], { encoding: 'utf8' }).trim().split(' ').map(Number);
      add('p50', 'C eventfd ping-pong', p50);
      add('p99', 'C eventfd ping-pong', p99);
    }
  } finally {
    for (const b of buses) await stopBus(b).catch(() => undefined);
    for (const b of fast) await stopFastbus(b).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
  const med = (key: string, c: Column): number => median(samples.get(key)?.get(c) ?? [NaN]);
  const table = (key: string, title: string, unit: string, higherIsBetter: boolean): Table => {
    const rows: Row[] = COLUMNS.filter((c) => samples.get(key)?.has(c)).map((c) => ({ label: c, samples: samples.get(key)!.get(c)!, unit, higherIsBetter }));
    return { title, rows, baseline: 'sd-bus pair, dbus-broker' };
  };
  const direct = 'fastbus pair, direct';
  const broker = 'sd-bus pair, dbus-broker';
  return {
    tables: [
      table('p50', 'method call round trip, p50', 'µs', false),
      table('p99', 'method call round trip, p99', 'µs', false),
      table('rttcpu', 'the bus\'s CPU time per round trip', 'µs', false),
      table('pipeline', 'pipelined calls/s, 128 outstanding', 'calls/s', true),
      table('sig1', 'signals delivered/s, 1 subscriber', 'signals/s', true),
      table('sig4', 'signals delivered/s, 4 subscribers', 'signals/s', true),
      table('mib1', '1 MiB ay round trip', 'ms', false),
      table('mib16', '16 MiB ay round trip', 'ms', false),
      table('mib1first', 'a new client\'s first 1 MiB ay round trip', 'ms', false),
      table('mib16first', 'a new client\'s first 16 MiB ay round trip', 'ms', false),
    ],
    notes: [
      `Targets: direct p50 ${(med('p50', direct) / med('p50', broker)).toFixed(2)}x dbus-broker's C pair (<= 0.6) and ${(med('p50', direct) / med('p50', 'C eventfd ping-pong')).toFixed(2)}x the C eventfd ping-pong (<= 1.3); busy p50 ${med('p50', 'fastbus pair, direct busy').toFixed(1)} µs (<= 5); pipelined ${(med('pipeline', direct) / med('pipeline', broker)).toFixed(2)}x dbus-broker (>= 5); 4-subscriber signals ${(med('sig4', direct) / med('sig4', broker)).toFixed(2)}x (>= 3); 16 MiB ${(med('mib16', broker) / med('mib16', direct)).toFixed(2)}x faster (>= 3); the bus's CPU per direct call ${(100 * med('rttcpu', direct) / med('rttcpu', 'fastbus pair, bus (direct off)')).toFixed(1)}% of brokered (<= 2%).`,
      'The sd-bus C client and service (bench/c/sdbus-peer.c) on dbus-daemon (Debian session.conf) and dbus-broker (dbus-broker-launch, as in the broker group); the fastbus client and service (bench/direct/peer.ts) echo the same 16-byte string and `ay` payloads. The fastbus client makes 10000 untimed calls first (steady state; the pair switches to its channel after its 4th message). The `ay` rows: each client (C and fastbus alike) makes untimed calls of the size first (as many as it times, and at least 16 MiB), and the median of the timed ones is shown; the first of all its calls (new memory everywhere: buffers, for fastbus the channel\'s payload arenas and receive-pool slabs) has rows of its own. Pipelined: 100000 calls timed, with --quick too (20000 were some 60 ms of the direct pair\'s work, which the first of them and a collection could halve). Busy: both channel ends poll (one core each).',
      'The bus\'s CPU: schedstat run time of the bus process over the round-trip run (for fastbus, its warm-up calls included), per call. Signals: one emitter, N subscribers each counting all; the emitter first sends 20000 untimed and calls each subscriber (the reply comes once it has them all: steady state, sd-bus and fastbus alike; a cold Node subscriber takes its first several thousand far slower), then times 30000 with --quick (10000 were some 20 ms of work for the direct pair: a window that the scheduling of a loaded machine decides); for the direct columns the emitter first calls each subscriber until it is direct; with every subscriber direct the bus needs none of its signals, and the emitter leaves the bus out (docs/direct.md).',
      '2 shared vCPUs, other jobs running: ratios within one run only. The busy column runs half the timed counts (after the same 10000-call warm-up): two polling processes on a loaded 2-vCPU machine are scheduled in slices.',
    ],
  };
}
