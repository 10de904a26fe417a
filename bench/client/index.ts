// `npm run bench -- client`: one dbus-daemon; three client+service pairs
// echoing a 16-byte string through it: fastbus, dbus-next 0.10 and sd-bus (C).
// Round trip p50/p99 of blocking calls, pipelined calls/s with 128
// outstanding, and the CPU time client, service and bus spend per pipelined
// call (from /proc and getrusage); the contenders take turns in each repetition.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildC } from '../c-program.js';
import { median, type BenchContext, type GroupResult, type Row } from '../harness.js';
import { startDbusDaemon } from '../../test/fixtures/dbus-daemon.js';
import { WARMUP_CALLS, type ClientResult } from './peer-common.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const DEPTH = 128;

interface Contender {
  label: string;
  name: string;
  command: (role: string[]) => string[];
}

/** CPU time (user + system) a process has used so far, in µs, from /proc (clock ticks of 10 ms). */
function cpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10000;
}

interface Sample extends ClientResult {
  serviceCpuUs: number;
  busCpuUs: number;
}

/**
 * Runs a client to its end. When it prints 'pipeline' (its pipelined phase
 * begins), the service's and the bus's CPU times are sampled, and again when
 * it prints its result: their CPU per pipelined call.
 */
function runClient(argv: string[], calls: number, servicePid: number, busPid: number): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let at: [number, number] | undefined;
    let result: Sample | undefined;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      let nl;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl).trim();
        out = out.slice(nl + 1);
        if (line === 'pipeline') at = [cpuUs(servicePid), cpuUs(busPid)];
        else if (line.startsWith('{') && at) {
          const r = JSON.parse(line) as ClientResult;
          result = { ...r, serviceCpuUs: (cpuUs(servicePid) - at[0]) / calls, busCpuUs: (cpuUs(busPid) - at[1]) / calls };
        }
      }
    });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 && result ? resolve(result) : reject(new Error(`${argv.join(' ')} exited with ${code}`))));
  });
}

export async function run(ctx: BenchContext): Promise<GroupResult> {
  ctx.progress('client: building the sd-bus C pair');
  const cBinary = buildC('c/sdbus-peer.c', ['-lsystemd']);
  const node = process.execPath;
  const contenders: Contender[] = [
    { label: 'fastbus client + service', name: 'com.example.Bench.Fastbus', command: (r) => [node, path.join(here, 'fastbus-peer.js'), ...r] },
    { label: 'dbus-next 0.10.2 client + service', name: 'com.example.Bench.DbusNext', command: (r) => [node, path.join(here, 'dbus-next-peer.js'), ...r] },
    { label: 'sd-bus (C) client + service', name: 'com.example.Bench.SdBus', command: (r) => [cBinary, ...r] },
  ];
  const rounds = ctx.quick ? 1000 : 4000;
  const calls = ctx.quick ? 20000 : 60000;
  const daemon = await startDbusDaemon();
  const services = [];
  try {
    for (const c of contenders) {
      const [command, ...args] = c.command(['service', daemon.address, c.name]);
      const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      services.push(child);
      await new Promise<void>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`${c.label} service exited with ${code}`)));
        child.stdout!.once('data', () => resolve());
      });
      child.removeAllListeners('exit');
    }
    const results = new Map<string, Sample[]>(contenders.map((c) => [c.label, []]));
    for (let rep = 0; rep < ctx.repeat; rep++) {
      for (const c of contenders) {
        ctx.progress(`client: repetition ${rep + 1}/${ctx.repeat}, ${c.label}`);
        const service = services[contenders.indexOf(c)];
        results.get(c.label)!.push(await runClient(c.command(['client', daemon.address, c.name, String(rounds), String(calls), String(DEPTH)]), calls, service.pid!, daemon.process.pid!));
      }
    }
    const rows = (pick: (r: Sample) => number, unit: string, higherIsBetter: boolean): Row[] =>
      contenders.map((c) => ({ label: c.label, samples: results.get(c.label)!.map(pick), unit, higherIsBetter }));
    const baseline = contenders[1].label;
    const pipelined = rows((r) => r.callsPerSec, 'calls/s', true);
    const p50 = rows((r) => r.p50, 'µs', false);
    const pairCpu = rows((r) => r.clientCpuUs + r.serviceCpuUs, 'µs', false);
    const busCpu = rows((r) => r.busCpuUs, 'µs', false);
    const med = (rs: Row[], i: number): number => median(rs[i].samples);
    return {
      tables: [
        { title: `Pipelined calls/s, ${DEPTH} outstanding, through dbus-daemon`, rows: pipelined, baseline },
        { title: 'Round trip p50 (blocking calls, one at a time)', rows: p50, baseline },
        { title: 'Round trip p99', rows: rows((r) => r.p99, 'µs', false), baseline },
        { title: 'CPU time per pipelined call, client + service processes', rows: pairCpu, baseline },
        { title: 'CPU time of dbus-daemon per pipelined call', rows: busCpu, baseline },
      ],
      notes: [
        `fastbus vs dbus-next: ${(med(pipelined, 0) / med(pipelined, 1)).toFixed(2)}x pipelined calls/s, ${(med(p50, 1) / med(p50, 0)).toFixed(2)}x lower median round trip.`,
        `CPU per pipelined call: fastbus client + service ${med(pairCpu, 0).toFixed(1)} µs, dbus-next ${med(pairCpu, 1).toFixed(1)} µs; dbus-daemon itself ${med(busCpu, 0).toFixed(1)} µs per fastbus call (two messages routed, each written with its own sendmsg), so on two vCPUs the bus, not the client, bounds the fastbus row.`,
        `fastbus vs the sd-bus C pair: ${(med(pipelined, 0) / med(pipelined, 2)).toFixed(2)}x its pipelined calls/s, ${(med(p50, 0) / med(p50, 2)).toFixed(2)}x its median round trip.`,
        `Each pair echoes a 16-byte string (Echo(s) -> s) through proxies: fastbus \`bus.proxy().getInterface()\`, dbus-next \`getProxyObject().getInterface()\`, sd-bus \`sd_bus_call_method\`/\`sd_bus_call_method_async\`. ${rounds} round trips and ${calls} pipelined calls per sample, after ${WARMUP_CALLS} untimed calls (steady state; with 200, a fresh Node client's p99 was about 1.5 ms while V8 still optimized it); one dbus-daemon for all.`,
      ],
    };
  } finally {
    for (const s of services) s.kill();
    await daemon.stop();
  }
}
