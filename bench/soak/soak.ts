// The soak: a real fastbus bus (its CLI, as users run it) under a mixed load
// for a set time: services, callers (soak-clients.ts), slow readers that read
// in bursts, and peers killed (SIGKILL) while sending a large message. Every
// reply is checked; the bus's RSS is sampled every second and call latencies
// are kept per interval. The report says what was lost or wrong (must be 0).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, printedAddress, stopDaemon } from '../../test/fixtures/bus.js';
import { DBUS, raw, type Raw } from '../../test/fixtures/raw-client.js';
import { runCaller, SERVICE, SoakTally, startService } from './soak-clients.js';

export interface SoakOptions {
  clients: number;
  seconds: number;
  seed?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface SoakInterval { fromS: number; toS: number; calls: number; p50Ms: number; p99Ms: number; maxMs: number }

export interface SoakReport {
  tally: SoakTally;
  /** Bus RSS in KiB: before clients, once all are connected, the peak, after the first minute (if reached), at the end. */
  rssKiB: { idle: number; start: number; peak: number; afterOneMinute: number | undefined; end: number };
  intervals: SoakInterval[];
  slowReaders: number;
  slowReadersDropped: number;
  killedMidMessage: number;
  busUp: boolean;
  summary: string;
}

const CONFIG = `<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen><auth>EXTERNAL</auth>
  <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/><allow user="*"/></policy></busconfig>`;
const KILLED_PEER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'killed-peer.js');

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : 0;
}

/** A peer that reads in bursts: paused most of the time, its queue on the bus grows and drains. */
async function slowReader(address: string, until: () => boolean): Promise<boolean> {
  const r: Raw = await raw(address);
  await r.call({ ...DBUS, member: 'AddMatch', signature: 's', body: ["type='signal',interface='org.fastbus.soak'"] });
  while (!until() && !r.isClosed()) {
    r.stream.pause();
    await new Promise((resolve) => setTimeout(resolve, 300));
    r.stream.resume();
    await new Promise((resolve) => setTimeout(resolve, 100));
    r.inbox.length = 0;
  }
  const dropped = r.isClosed();
  r.stream.close();
  return dropped;
}

/** Starts a peer and kills it once it is sending its large message; resolves when it is gone. */
function killMidMessage(address: string, destination: string): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [KILLED_PEER, address, destination], { stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout!.once('data', () => child.kill('SIGKILL'));
    child.once('exit', () => resolve());
  });
}

/** Runs the soak; resolves with the report (the bus is stopped). */
export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const seed = o.seed ?? 1;
  const log = o.log ?? (() => {});
  const dir = mkdtempSync(path.join(tmpdir(), 'fastbus-soak-'));
  writeFileSync(path.join(dir, 'bus.conf'), CONFIG);
  const child = spawn(process.execPath, [CLI, 'daemon', `--config-file=${path.join(dir, 'bus.conf')}`, '--nofork', '--print-address', `--address=unix:path=${path.join(dir, 'bus')}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const tally = new SoakTally();
  const intervals: SoakInterval[] = [];
  let killedMidMessage = 0;
  try {
    const address = await printedAddress(child, (code) => `the bus exited with ${code} before printing its address`);
    const pid = child.pid!;
    const rss = { idle: rssKiB(pid), start: 0, peak: 0, afterOneMinute: undefined as number | undefined, end: 0 };
    const serviceCount = Math.max(2, Math.round(o.clients / 50));
    const readerCount = Math.max(1, Math.round(o.clients / 50));
    const callerCount = Math.max(1, o.clients - serviceCount - readerCount);
    const services = await Promise.all(Array.from({ length: serviceCount }, (_, k) => startService(address, k, 200)));
    const names = services.map((s) => s.name);
    const t0 = Date.now();
    const deadline = t0 + o.seconds * 1000;
    const over = (): boolean => Date.now() >= deadline;
    const readers = Array.from({ length: readerCount }, () => slowReader(address, over));
    // Callers connect in batches, as a crowd arriving rather than one burst.
    const thinkMs = Math.max(200, o.clients);
    const callers: Promise<void>[] = [];
    for (let k = 0; k < callerCount; k += 50) {
      const batch = Array.from({ length: Math.min(50, callerCount - k) }, (_, j) => runCaller(address, k + j, names, deadline, seed, tally, thinkMs));
      callers.push(...batch);
      await Promise.race([Promise.all(batch.map((b) => b.catch(() => {}))), new Promise((r) => setTimeout(r, 200))]);
    }
    rss.start = rssKiB(pid);
    log(`  soak: ${serviceCount} services, ${readerCount} slow readers, ${callerCount} callers connected; bus RSS ${rss.start} KiB`);
    const intervalMs = Math.max(5000, (o.seconds * 1000) / 10);
    let intervalStart = Date.now();
    const sampler = setInterval(() => {
      const now = Date.now();
      const kib = rssKiB(pid);
      rss.peak = Math.max(rss.peak, kib);
      if (rss.afterOneMinute === undefined && now - t0 >= 60_000) rss.afterOneMinute = kib;
      if (intervalStart < deadline && (now - intervalStart >= intervalMs || now >= deadline)) {
        const sorted = tally.latencies.sort((a, b) => a - b);
        intervals.push({ fromS: (intervalStart - t0) / 1000, toS: (now - t0) / 1000, calls: sorted.length, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99), maxMs: sorted.at(-1) ?? 0 });
        log(`  soak: ${Math.round((now - t0) / 1000)} s: ${tally.calls} calls, ${tally.lost} lost, ${tally.wrong} wrong; bus RSS ${kib} KiB`);
        tally.latencies = [];
        intervalStart = now;
      }
    }, 1000);
    const killer = (async () => {
      while (!over()) {
        await killMidMessage(address, names[killedMidMessage % names.length]);
        killedMidMessage++;
        await new Promise((r) => setTimeout(r, 2000));
      }
    })();
    const results = await Promise.allSettled(callers);
    for (const r of results) if (r.status === 'rejected') tally.fault('lost', `a caller failed: ${(r.reason as Error).message}`);
    const dropped = (await Promise.all(readers)).filter(Boolean).length;
    await killer;
    clearInterval(sampler);
    // The bus is up and answers a new client at the end.
    let busUp = child.exitCode === null;
    if (busUp) {
      const last = await raw(address);
      const id = await last.call({ ...DBUS, member: 'NameHasOwner', signature: 's', body: [`${SERVICE}0`] });
      busUp = id.body[0] === true;
      last.stream.close();
    }
    for (const s of services) s.close();
    rss.end = rssKiB(pid);
    const summary = formatReport(o, tally, rss, intervals, readerCount, dropped, killedMidMessage, busUp);
    return { tally, rssKiB: rss, intervals, slowReaders: readerCount, slowReadersDropped: dropped, killedMidMessage, busUp, summary };
  } finally {
    await stopDaemon(child, dir);
  }
}

function formatReport(o: SoakOptions, t: SoakTally, rss: SoakReport['rssKiB'], intervals: SoakInterval[], readers: number, dropped: number, killed: number, busUp: boolean): string {
  const mib = (k: number | undefined): string => (k === undefined ? '-' : `${(k / 1024).toFixed(1)} MiB`);
  const lines = [
    `soak: ${o.clients} clients for ${o.seconds} s: ${t.calls} calls answered, replies lost ${t.lost}, wrong replies ${t.wrong}`,
    `  ${t.largeBodies} large bodies (256 KiB-1 MiB), ${t.signals} signals received by subscribers, ${t.nameChanges} names acquired and released, ${t.reconnects} reconnections`,
    `  direct path: ${t.directPairs} caller-service pairs switched to a channel, ${t.directSent} messages sent on channels by callers (counted as callers left)`,
    `  ${readers} slow readers (${dropped} dropped by the bus), ${killed} peers killed mid-message; bus ${busUp ? 'up and answering at the end' : 'NOT answering at the end'}`,
    `  bus RSS: idle ${mib(rss.idle)}, all connected ${mib(rss.start)}, peak ${mib(rss.peak)}, after 1 min ${mib(rss.afterOneMinute)}, end ${mib(rss.end)}`,
    '  call latency by interval:   from-to s   calls    p50 ms    p99 ms    max ms',
    ...intervals.map((i) => `  ${`${i.fromS.toFixed(0)}-${i.toS.toFixed(0)}`.padStart(36)} ${String(i.calls).padStart(7)} ${i.p50Ms.toFixed(2).padStart(9)} ${i.p99Ms.toFixed(2).padStart(9)} ${i.maxMs.toFixed(1).padStart(9)}`),
    ...t.faults.map((f) => `  ${f}`),
  ];
  return lines.join('\n');
}
