// `npm run bench -- bridge`: a call from bus A to a service on bus B across
// two `fastbus bridge` processes and one nats-server, against, in the same
// run: the `nats` client's own request/reply on that server (the floor), one
// call through a local fastbus bus alone (a bus hop; the bridged call makes
// two, one per bus), and a client calling a service through one dbus-daemon
// listening on tcp: (what D-Bus offers across machines). Every contender is
// the same client measurement (bench/client/peer-common.ts): round trips one
// at a time, then pipelined calls with 128 outstanding; they take turns.
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, type BenchContext, type GroupResult, type Row } from '../harness.js';
import { ANONYMOUS_TCP_CONFIG, CLI, startBus, type TestBus } from '../../test/fixtures/bus.js';
import { startNats, type NatsCluster } from '../../test/fixtures/nats.js';
import { WARMUP_CALLS, type ClientResult } from '../client/peer-common.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FASTBUS_PEER = path.join(here, '..', 'client', 'fastbus-peer.js');
const NATS_PEER = path.join(here, 'nats-peer.js');
const DEPTH = 128;
const NAME = 'com.example.Bench.Fastbus';

/** Starts a long-running peer and resolves once it printed `ready` (or `bridge ready`). */
function startPeer(argv: string[], children: ChildProcess[]): Promise<ChildProcess> {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const onExit = (code: number | null): void => reject(new Error(`${argv.join(' ')} exited with ${code}`));
    child.once('exit', onExit);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (/ready/.test(out)) {
        child.off('exit', onExit);
        resolve(child);
      }
    });
  });
}

/** Runs a measuring client to its end and resolves with its JSON result. */
function runClient(argv: string[]): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code === 0 && line) resolve(JSON.parse(line) as ClientResult);
      else reject(new Error(`${argv.join(' ')} exited with ${code}`));
    });
  });
}

export async function run(ctx: BenchContext): Promise<GroupResult> {
  const node = process.execPath;
  const rounds = ctx.quick ? 500 : 1000;
  const calls = ctx.quick ? 5000 : 10000;
  const load = os.loadavg()[0];
  const children: ChildProcess[] = [];
  const buses: TestBus[] = [];
  let nats: NatsCluster | undefined;
  try {
    ctx.progress('bridge: starting nats-server, two fastbus buses, a dbus-daemon on tcp:, the bridges and services');
    nats = await startNats();
    const url = nats.urls[0];
    const busA = await startBus('fastbus');
    buses.push(busA);
    const busB = await startBus('fastbus');
    buses.push(busB);
    const tcp = await startBus('dbus-daemon', ANONYMOUS_TCP_CONFIG, false);
    buses.push(tcp);
    await startPeer([node, NATS_PEER, 'service', url, 'bench.echo'], children);
    await startPeer([node, FASTBUS_PEER, 'service', busB.address, NAME], children);
    await startPeer([node, FASTBUS_PEER, 'service', busA.address, 'com.example.Bench.Local'], children);
    await startPeer([node, FASTBUS_PEER, 'service', tcp.address, 'com.example.Bench.Tcp'], children);
    await startPeer([node, CLI, 'bridge', '--address', busB.address, '--nats', url, '--export', NAME], children);
    await startPeer([node, CLI, 'bridge', '--address', busA.address, '--nats', url, '--import', NAME], children);
    const n = [String(rounds), String(calls), String(DEPTH)];
    const contenders = [
      { label: 'raw NATS request/reply (nats 2.29.3 client)', argv: [node, NATS_PEER, 'client', url, 'bench.echo', ...n] },
      { label: 'one local bus hop (fastbus client, fastbus daemon, service)', argv: [node, FASTBUS_PEER, 'client', busA.address, 'com.example.Bench.Local', ...n] },
      { label: 'across the bridge: bus A, bridge, NATS, bridge, bus B', argv: [node, FASTBUS_PEER, 'client', busA.address, NAME, ...n] },
      { label: 'one dbus-daemon on tcp: (client and service both remote)', argv: [node, FASTBUS_PEER, 'client', tcp.address, 'com.example.Bench.Tcp', ...n] },
    ];
    const results = new Map<string, ClientResult[]>(contenders.map((c) => [c.label, []]));
    for (let rep = 0; rep < ctx.repeat; rep++) {
      for (const c of contenders) {
        ctx.progress(`bridge: repetition ${rep + 1}/${ctx.repeat}, ${c.label}`);
        results.get(c.label)!.push(await runClient(c.argv));
      }
    }
    const rows = (pick: (r: ClientResult) => number, unit: string, higherIsBetter: boolean): Row[] =>
      contenders.map((c) => ({ label: c.label, samples: results.get(c.label)!.map(pick), unit, higherIsBetter }));
    const [natsR, hopR, bridgeR] = contenders.map((c) => results.get(c.label)!);
    // Per repetition (the contenders of one repetition ran back to back): the bridged round trip
    // over its floor (raw NATS + two bus hops), and bridged calls/s over raw NATS calls/s.
    const rttOverFloor = bridgeR.map((b, i) => b.p50 / (natsR[i].p50 + 2 * hopR[i].p50));
    const rateOverNats = bridgeR.map((b, i) => b.callsPerSec / natsR[i].callsPerSec);
    const baseline = contenders[0].label;
    const m = (xs: ClientResult[], f: (r: ClientResult) => number): number => median(xs.map(f));
    return {
      tables: [
        { title: 'Round trip p50 (blocking calls, one at a time)', rows: rows((r) => r.p50, 'µs', false), baseline },
        { title: 'Round trip p99', rows: rows((r) => r.p99, 'µs', false), baseline },
        { title: `Pipelined calls/s, ${DEPTH} outstanding`, rows: rows((r) => r.callsPerSec, 'calls/s', true), baseline },
      ],
      notes: [
        `Round trip across the bridge over its floor (raw NATS request/reply + two local bus hops, per repetition): median ${median(rttOverFloor).toFixed(2)}x (${rttOverFloor.map((x) => x.toFixed(2)).join(', ')}); the target is <= 2x. Bridge ${m(bridgeR, (r) => r.p50).toFixed(0)} µs; floor ${(m(natsR, (r) => r.p50) + 2 * m(hopR, (r) => r.p50)).toFixed(0)} µs (NATS ${m(natsR, (r) => r.p50).toFixed(0)} µs + 2 x ${m(hopR, (r) => r.p50).toFixed(0)} µs).`,
        `Pipelined calls/s across the bridge over raw NATS requests/s (per repetition): median ${median(rateOverNats).toFixed(2)}x (${rateOverNats.map((x) => x.toFixed(2)).join(', ')}); the target is >= 0.5x.`,
        `Processes: one nats-server 2.9 (loopback), two \`fastbus daemon\` buses (default options), two \`fastbus bridge\` processes, the service on bus B and the client on bus A (fastbus client, Echo(s) of a 16-byte string); the raw NATS pair sends the bytes of the same D-Bus call as its payload and echoes them. ${rounds} round trips and ${calls} pipelined calls per sample after ${WARMUP_CALLS} untimed calls.`,
        `On two vCPUs the bridged call keeps seven processes busy (client, bus A, bridge A, nats-server, bridge B, bus B, service) against three for raw NATS. Load average when the run began: ${load.toFixed(1)} (other work on the machine makes absolute figures noisy; compare rows of one run).`,
      ],
    };
  } finally {
    for (const c of children) c.kill();
    await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    for (const b of buses) await b.stop();
    await nats?.stop();
  }
}
