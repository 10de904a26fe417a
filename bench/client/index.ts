// `npm run bench -- client`: one dbus-daemon; three client+service pairs
// echoing a 16-byte string through it: fastbus, dbus-next 0.10 and sd-bus (C).
// Round trip p50/p99 of blocking calls and pipelined calls/s with 128
// outstanding; the contenders take turns within each repetition.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildC } from '../c-program.js';
import { median, type BenchContext, type GroupResult, type Row } from '../harness.js';
import { startDbusDaemon } from '../../test/fixtures/dbus-daemon.js';
import type { ClientResult } from './peer-common.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const DEPTH = 128;

interface Contender {
  label: string;
  name: string;
  command: (role: string[]) => string[];
}

function runToEnd(argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${argv.join(' ')} exited with ${code}`))));
  });
}

export async function run(ctx: BenchContext): Promise<GroupResult> {
  ctx.progress('client: building the sd-bus C pair');
  const cBinary = buildC('client/sdbus-echo.c', ['-lsystemd']);
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
      const child = spawn(c.command(['service', daemon.address, c.name])[0], c.command(['service', daemon.address, c.name]).slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
      services.push(child);
      await new Promise<void>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`${c.label} service exited with ${code}`)));
        child.stdout!.once('data', () => resolve());
      });
      child.removeAllListeners('exit');
    }
    const results = new Map<string, ClientResult[]>(contenders.map((c) => [c.label, []]));
    for (let rep = 0; rep < ctx.repeat; rep++) {
      for (const c of contenders) {
        ctx.progress(`client: repetition ${rep + 1}/${ctx.repeat}, ${c.label}`);
        const out = await runToEnd(c.command(['client', daemon.address, c.name, String(rounds), String(calls), String(DEPTH)]));
        results.get(c.label)!.push(JSON.parse(out.trim().split('\n').pop()!) as ClientResult);
      }
    }
    const rows = (pick: (r: ClientResult) => number, unit: string, higherIsBetter: boolean): Row[] =>
      contenders.map((c) => ({ label: c.label, samples: results.get(c.label)!.map(pick), unit, higherIsBetter }));
    const baseline = contenders[1].label;
    const pipelined = rows((r) => r.callsPerSec, 'calls/s', true);
    const p50 = rows((r) => r.p50, 'µs', false);
    const med = (rs: Row[], i: number): number => median(rs[i].samples);
    return {
      tables: [
        { title: `Pipelined calls/s, ${DEPTH} outstanding, through dbus-daemon`, rows: pipelined, baseline },
        { title: 'Round trip p50 (blocking calls, one at a time)', rows: p50, baseline },
        { title: 'Round trip p99', rows: rows((r) => r.p99, 'µs', false), baseline },
      ],
      notes: [
        `fastbus vs dbus-next: ${(med(pipelined, 0) / med(pipelined, 1)).toFixed(2)}x pipelined calls/s, ${(med(p50, 1) / med(p50, 0)).toFixed(2)}x lower median round trip.`,
        `fastbus vs the sd-bus C pair: ${(med(pipelined, 0) / med(pipelined, 2)).toFixed(2)}x its pipelined calls/s, ${(med(p50, 0) / med(p50, 2)).toFixed(2)}x its median round trip.`,
        `Each pair echoes a 16-byte string (Echo(s) -> s) through proxies: fastbus \`bus.proxy().getInterface()\`, dbus-next \`getProxyObject().getInterface()\`, sd-bus \`sd_bus_call_method\`/\`sd_bus_call_method_async\`. ${rounds} round trips and ${calls} pipelined calls per sample; one dbus-daemon for all.`,
      ],
    };
  } finally {
    for (const s of services) s.kill();
    await daemon.stop();
  }
}
