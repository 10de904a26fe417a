// Start-up of a bus, from spawning it to the first answered Hello (the bus
// prints its address once it listens; a client then connects, authenticates
// and says Hello): fastbus as users start it (bin/fastbus.cjs: the one-file
// daemon with its code cache), fastbus from its modules through Node's ESM
// loader (dist/src/cli/main.js: what the bundle saves) and dbus-daemon, on
// Debian's session.conf, beside a bare `node -e 0` (the floor under any Node
// program), taking turns in the same run. Wall time, and the CPU time the started process used until then
// (all its threads; steadier than wall time on a loaded machine).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect } from '../../src/client/index.js';
import { repoRoot } from '../c-program.js';
import type { BenchContext, Row, Table } from '../harness.js';

const NODE = 'node -e 0';
const MODULES = 'fastbus, from its modules';
const LABELS = [NODE, 'fastbus', MODULES, 'dbus-daemon'] as const;
type Label = (typeof LABELS)[number];

/** CPU time of every thread of a live process so far, in ms (schedstat run time). */
function cpuMs(pid: number): number {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // a thread that ended meanwhile
    }
  }
  return ns / 1e6;
}

/** `node -e 0`, its own CPU time printed at exit (getrusage: the whole process, bootstrap included). */
function bareNode(): Promise<{ wallMs: number; cpuMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['-e', "process.on('exit', () => { const u = process.cpuUsage(); process.stdout.write(String(u.user + u.system)); })"], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.once('error', reject);
    let wallMs = 0;
    child.once('exit', () => { wallMs = performance.now() - t0; });
    // 'close' comes after 'exit' and after the output is read.
    child.once('close', () => resolve({ wallMs, cpuMs: Number(out) / 1000 }));
  });
}

/** Starts a bus, connects and says Hello; the time that took and the bus's CPU time until then. */
function busToHello(label: Exclude<Label, typeof NODE>, sock: string): Promise<{ wallMs: number; cpuMs: number }> {
  return new Promise((resolve, reject) => {
    const args = ['--session', '--nofork', '--print-address', `--address=unix:path=${sock}`];
    const t0 = performance.now();
    const entry = label === 'fastbus' ? 'bin/fastbus.cjs' : 'dist/src/cli/main.js';
    const child = label === 'dbus-daemon'
      ? spawn('dbus-daemon', args, { stdio: ['ignore', 'pipe', 'ignore'] })
      : spawn(process.execPath, [path.join(repoRoot, entry), 'daemon', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    const onExit = (code: number | null): void => reject(new Error(`${label} exited (${code}) before answering Hello`));
    child.once('exit', onExit);
    child.once('error', reject);
    child.stdout.on('data', (d: Buffer) => {
      if (out.includes('\n')) return;
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      connect(out.slice(0, nl).trim()).then((c) => {
        const wallMs = performance.now() - t0;
        const cpu = cpuMs(child.pid!);
        c.close();
        child.off('exit', onExit);
        child.once('exit', () => resolve({ wallMs, cpuMs: cpu }));
        child.kill();
      }, reject);
    });
  });
}

/** Two tables: wall time to the first answered Hello, and CPU time until then; `rounds` turns each. */
export async function startupTables(ctx: BenchContext): Promise<Table[]> {
  const rounds = ctx.quick ? 5 : 3 * ctx.repeat;
  const wall = new Map<Label, number[]>(LABELS.map((l) => [l, []]));
  const cpu = new Map<Label, number[]>(LABELS.map((l) => [l, []]));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fastbus-bench-startup-'));
  try {
    for (let i = 0; i < rounds; i++) {
      ctx.progress(`broker: start-up round ${i + 1}/${rounds}`);
      for (const label of LABELS) {
        const r = label === NODE ? await bareNode() : await busToHello(label, path.join(dir, `${LABELS.indexOf(label)}-${i}`));
        wall.get(label)!.push(r.wallMs);
        cpu.get(label)!.push(r.cpuMs);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const rows = (m: Map<Label, number[]>): Row[] => LABELS.map((label) => ({ label, samples: m.get(label)!, unit: 'ms', higherIsBetter: false }));
  const note = 'a bus: spawn to its first Hello answered; node -e 0: spawn to exit';
  return [
    { title: 'start-up to the first answered Hello, wall time', rows: rows(wall), baseline: NODE, note },
    { title: 'start-up to the first answered Hello, CPU time of the started process', rows: rows(cpu), baseline: NODE, note },
  ];
}
