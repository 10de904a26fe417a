// `npm run bench -- channel`: fastbus channels against child_process IPC,
// Node `net` over a unix socket, and the limits C programs reach (eventfd
// and busy-poll ping-pong across two CPUs, process_vm_readv bandwidth):
// (0) GB/s for 1 MiB and 64 MiB payloads with default options in both
// directions, (4) where a received payload lands, in one process (landing.ts),
// (1) one-way 64-byte messages/s, (2) round trip: default options, no
// polling, spinUs and busy mode, beside C ping-pongs (blocking on an eventfd,
// and waiting in epoll as Node's loop does) and a bare Node eventfd poller,
// (3) GB/s for 1 MiB and 64 MiB payloads with tuned modes. The baselines are
// in baselines.ts. Parent on CPU 0, peer on CPU 1.
// FASTBUS_BENCH_CHANNEL=defaults,landing,one-way,round-trip,bandwidth (any of them) runs only those parts.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fork, type Channel, type ChannelOptions } from '../../src/channel/index.js';
import { RECEIVE_POOL_IDLE_MS, RECEIVE_POOL_MAX_BYTES, receivePool } from '../../src/channel/receive-pool.js';
import { buildC } from '../c-program.js';
import {
  PEER, cPingPong, cReadvGbps, eventfdNodeRoundTrip, ipcOneWay, ipcRoundTrip, memcpyRate, netDown, netOneWay, netRoundTrip, pin, pingPong, stop,
} from './baselines.js';
import { landingRound, landingRows, landingTables } from './landing.js';
import { median, type BenchContext, type GroupResult, type Row, type Table } from '../harness.js';

const MiB = 1 << 20;

/** The CPUs this process may run on now, as taskset's list ("0-1"). */
function allowedCpus(): string | undefined {
  return /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
}

function row(label: string, unit: string, higherIsBetter: boolean): Row {
  return { label, samples: [], unit, higherIsBetter };
}

async function forkChannel(args: string[], options: ChannelOptions, peerOptions: ChannelOptions): Promise<{ child: ChildProcess; channel: Channel }> {
  const forked = fork(PEER, args, { ...options, env: { ...process.env, BENCH_OPTIONS: JSON.stringify(peerOptions) } });
  pin(forked.child.pid!, 1);
  await forked.channel.ready;
  return forked;
}

function status(): { rss: number; shmem: number } {
  const text = readFileSync('/proc/self/status', 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(text)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), shmem: kb('RssShmem') };
}

/** Messages (or bytes) per second from 'go' to the n-th message received. */
async function channelOneWay(n: number, size: number, json: boolean, options: ChannelOptions, peerOptions: ChannelOptions, footprint?: (f: string) => void): Promise<number> {
  const before = status();
  const { child, channel } = await forkChannel(['ch-send', String(n), String(size), json ? 'json' : ''], options, peerOptions);
  // One untimed message first (as the C programs warm up): the receiver's buffers are touched once.
  // (Not kept: a payload held here would keep its receive-pool slab lent for the whole sample.)
  const warm = once(channel, 'message').then(() => undefined);
  await channel.send('warm');
  await warm;
  let count = 0;
  const done = new Promise<number>((resolve) => channel.on('message', () => { if (++count === n) resolve(performance.now()); }));
  const t0 = performance.now();
  await channel.send('go');
  const t1 = await done;
  if (footprint) {
    const after = status();
    footprint(`segment ${(channel.segmentSizeBytes / MiB).toFixed(2)} MiB (two 1 MiB rings + 4 KiB header); after ${n} messages this process's RSS grew ${((after.rss - before.rss) / MiB).toFixed(1)} MiB, of which ${((after.shmem - before.shmem) / MiB).toFixed(2)} MiB is the mapped segment (RssShmem)`);
  }
  await stop(child, channel);
  return n / ((t1 - t0) / 1000);
}

/** Bytes per second from this process to the peer: n payloads of `size` bytes (after one untimed), until the peer says it has them all. */
async function channelDown(n: number, size: number, options: ChannelOptions, peerOptions: ChannelOptions): Promise<number> {
  const { child, channel } = await forkChannel(['ch-recv', String(n)], options, peerOptions);
  const msg = new Uint8Array(size).fill(1);
  const warm = once(channel, 'message');
  await channel.send(msg);
  await warm;
  const done = once(channel, 'message');
  const t0 = performance.now();
  let i = 0;
  while (i < n) {
    while (i < n && channel.trySend(msg)) i++;
    if (i < n) await channel.whenWritable();
  }
  await done;
  const t1 = performance.now();
  await stop(child, channel);
  return n * size / ((t1 - t0) / 1000);
}

async function channelRoundTrip(n: number, options: ChannelOptions): Promise<[number, number]> {
  const { child, channel } = await forkChannel(['ch-echo'], { ...options, views: true }, options);
  const ping = new Uint8Array(64);
  const r = await pingPong(n, () => { channel.trySend(ping); }, (cb) => channel.on('message', cb));
  await stop(child, channel);
  return r;
}

/**
 * Runs the group with this process on CPU 0 (each peer goes to CPU 1), then
 * gives it back the CPUs it had: the groups that run after this one (and
 * every process they start) must not inherit the pinning.
 */
export async function run(ctx: BenchContext): Promise<GroupResult> {
  const allowed = allowedCpus();
  pin(process.pid, 0);
  try {
    return await measure(ctx);
  } finally {
    if (allowed) pin(process.pid, allowed);
  }
}

async function measure(ctx: BenchContext): Promise<GroupResult> {
  const q = ctx.quick;
  ctx.progress('channel: building the C programs');
  const pingpong = buildC('channel/pingpong.c');
  const readvBw = buildC('c/vm-readv.c');
  const notes: string[] = [];
  const parts = new Set((process.env.FASTBUS_BENCH_CHANNEL ?? 'defaults,landing,one-way,round-trip,bandwidth').split(','));
  const repeat = (part: string): number => (parts.has(part) ? ctx.repeat : 0);

  // (0) bandwidth with default options, as users meet them (no views, no largePayload), both directions
  const d1 = q ? 200 : 1000, d64 = q ? 4 : 16;
  const def1 = {
    netUp: row('Node net, unix socket, child -> parent', 'GB/s', true),
    netDown: row('Node net, unix socket, parent -> child', 'GB/s', true),
    up: row('fastbus channel, default options, child -> parent', 'GB/s', true),
    down: row('fastbus channel, default options, parent -> child', 'GB/s', true),
    c: row('C process_vm_readv', 'GB/s', true),
    memcpy: row('memcpy (Uint8Array.set, warm buffers)', 'GB/s', true),
  };
  const def64 = {
    c: row('C process_vm_readv', 'GB/s', true),
    memcpy: row('memcpy (Uint8Array.set, warm buffers)', 'GB/s', true),
    up: row('fastbus channel, default options, child -> parent', 'GB/s', true),
    down: row('fastbus channel, default options, parent -> child', 'GB/s', true),
    upCma: row('fastbus channel, default receiver, sender largePayload: cma, child -> parent', 'GB/s', true),
    downCma: row('fastbus channel, default receiver, sender largePayload: cma, parent -> child', 'GB/s', true),
  };
  let poolPeak = 0;
  for (let r = 0; r < repeat('defaults'); r++) {
    ctx.progress(`channel: bandwidth with default options, repetition ${r + 1}/${ctx.repeat}`);
    def1.netUp.samples.push((await netOneWay(d1, MiB)) * MiB / 1e9);
    def1.netDown.samples.push((await netDown(d1, MiB)) / 1e9);
    def1.up.samples.push((await channelOneWay(d1, MiB, false, {}, {})) * MiB / 1e9);
    poolPeak = Math.max(poolPeak, receivePool.stats.mappedBytes);
    def1.down.samples.push((await channelDown(d1, MiB, {}, {})) / 1e9);
    def1.c.samples.push(cReadvGbps(readvBw, MiB, d1));
    def1.memcpy.samples.push(memcpyRate(MiB, d1) / 1e9);
    def64.c.samples.push(cReadvGbps(readvBw, 64 * MiB, d64));
    def64.memcpy.samples.push(memcpyRate(64 * MiB, d64) / 1e9);
    poolPeak = Math.max(poolPeak, receivePool.stats.mappedBytes);
    def64.up.samples.push((await channelOneWay(d64, 64 * MiB, false, {}, {})) * 64 * MiB / 1e9);
    poolPeak = Math.max(poolPeak, receivePool.stats.mappedBytes);
    def64.down.samples.push((await channelDown(d64, 64 * MiB, {}, {})) / 1e9);
    // The same receivers, the payloads pulled by CMA as 'auto' did before they went in pieces through the arena.
    def64.upCma.samples.push((await channelOneWay(d64, 64 * MiB, false, {}, { largePayload: 'cma' })) * 64 * MiB / 1e9);
    def64.downCma.samples.push((await channelDown(d64, 64 * MiB, { largePayload: 'cma' }, {})) / 1e9);
  }
  if (parts.has('defaults')) {
    const { lends, reuses, misses } = receivePool.stats;
    notes.push(`Receive pool (where a default receiver's large payloads land): in this process, which receives the child -> parent rows, it mapped at most ${(poolPeak / MiB).toFixed(0)} MiB (bound ${RECEIVE_POOL_MAX_BYTES / MiB} MiB per process; free slabs unmapped after ${RECEIVE_POOL_IDLE_MS / 1000} s unused); ${lends} payloads landed in it, ${reuses} of them in a slab lent before, ${misses} got a plain new buffer.`);
  }

  // (4) where a received payload lands (one process)
  const landing = landingRows();
  const l1 = q ? 200 : 1000, l64 = q ? 8 : 32;
  for (let r = 0; r < repeat('landing'); r++) {
    ctx.progress(`channel: where a payload lands, repetition ${r + 1}/${ctx.repeat}`);
    await landingRound(landing, l1, l64);
  }

  // (1) one-way 64-byte messages/s
  const nCh = q ? 500_000 : 2_000_000, nIpc = q ? 50_000 : 200_000, nNet = q ? 200_000 : 500_000;
  const oneWay = {
    ipcJson: row('child_process IPC (json), 64-char string', 'msgs/s', true),
    ipcAdv: row('child_process IPC (advanced), 64-char string', 'msgs/s', true),
    net: row('Node net, unix socket, 64-byte frames (1 per write)', 'msgs/s', true),
    chView: row('fastbus channel, 64 bytes, views', 'msgs/s', true),
    chCopy: row('fastbus channel, 64 bytes, copies', 'msgs/s', true),
    chJson: row('fastbus channel, 64-char string (json)', 'msgs/s', true),
  };
  for (let r = 0; r < repeat('one-way'); r++) {
    ctx.progress(`channel: one-way 64-byte messages, repetition ${r + 1}/${ctx.repeat}`);
    oneWay.ipcJson.samples.push(await ipcOneWay(nIpc, 'json'));
    oneWay.ipcAdv.samples.push(await ipcOneWay(nIpc, 'advanced'));
    oneWay.net.samples.push(await netOneWay(nNet, 64));
    oneWay.chView.samples.push(await channelOneWay(nCh, 64, false, { views: true }, {}, r === 0 ? (f) => notes.push(`Memory: ${f}.`) : undefined));
    oneWay.chCopy.samples.push(await channelOneWay(nCh, 64, false, {}, {}));
    oneWay.chJson.samples.push(await channelOneWay(nCh, 66, true, {}, {}));
  }

  // (2) round trips
  const nSleep = q ? 2000 : 10_000, nBusy = q ? 20_000 : 100_000;
  const rtt = {
    cEventfd: row('C eventfd ping-pong (blocking)', 'µs', false),
    cEpoll: row('C eventfd ping-pong, waiting in epoll as Node does', 'µs', false),
    nodeEventfd: row('Node eventfd ping-pong, a bare libuv poller (no channel)', 'µs', false),
    chDefault: row('fastbus channel, default options (polls up to 50 µs after a wake-up)', 'µs', false),
    chNoPoll: row('fastbus channel, pollUs: 0 (sleeps at once)', 'µs', false),
    chSpin: row('fastbus channel, spinUs: 50', 'µs', false),
    ipc: row('child_process IPC (json)', 'µs', false),
    net: row('Node net, unix socket', 'µs', false),
  };
  const busy = {
    cBusy: row('C busy-poll ping-pong', 'µs', false),
    chBusy: row('fastbus channel, busy mode', 'µs', false),
  };
  const p99: Record<string, number[]> = {};
  const keep = (label: string, [med, tail]: [number, number]): number => {
    (p99[label] ??= []).push(tail);
    return med;
  };
  for (let r = 0; r < repeat('round-trip'); r++) {
    ctx.progress(`channel: round trips, repetition ${r + 1}/${ctx.repeat}`);
    rtt.cEventfd.samples.push(keep(rtt.cEventfd.label, cPingPong(pingpong, 'eventfd', nSleep)));
    rtt.cEpoll.samples.push(keep(rtt.cEpoll.label, cPingPong(pingpong, 'epoll', nSleep)));
    rtt.nodeEventfd.samples.push(keep(rtt.nodeEventfd.label, await eventfdNodeRoundTrip(nSleep)));
    rtt.chDefault.samples.push(keep(rtt.chDefault.label, await channelRoundTrip(nSleep, {})));
    rtt.chNoPoll.samples.push(keep(rtt.chNoPoll.label, await channelRoundTrip(nSleep, { pollUs: 0 })));
    rtt.chSpin.samples.push(keep(rtt.chSpin.label, await channelRoundTrip(nSleep, { spinUs: 50 })));
    rtt.ipc.samples.push(keep(rtt.ipc.label, await ipcRoundTrip(nSleep)));
    rtt.net.samples.push(keep(rtt.net.label, await netRoundTrip(nSleep)));
    busy.cBusy.samples.push(keep(busy.cBusy.label, cPingPong(pingpong, 'busy', nBusy)));
    busy.chBusy.samples.push(keep(busy.chBusy.label, await channelRoundTrip(nBusy, { busy: true })));
  }
  if (parts.has('round-trip')) notes.push(`Round-trip p99 (median over repetitions): ${Object.entries(p99).map(([k, v]) => `${k} ${median(v).toFixed(2)} µs`).join('; ')}.`);

  // (3) bandwidth
  const k1 = q ? 200 : 1000, k64 = q ? 4 : 16;
  const bw1 = {
    net: row('Node net, unix socket, 1 MiB frames', 'GB/s', true),
    arena: row('fastbus channel, payload arena (auto picks it)', 'GB/s', true),
    arenaCopy: row('fastbus channel, payload arena, receiver copies', 'GB/s', true),
    cma: row('fastbus channel, CMA', 'GB/s', true),
    memfd: row('fastbus channel, memfd per payload', 'GB/s', true),
    ring: row('fastbus channel, chunks through the ring', 'GB/s', true),
    c: row('C process_vm_readv', 'GB/s', true),
  };
  const bw64 = {
    c: row('C process_vm_readv', 'GB/s', true),
    cma: row('fastbus channel, CMA', 'GB/s', true),
    arena: row('fastbus channel, payload arena', 'GB/s', true),
    memfd: row('fastbus channel, memfd per payload', 'GB/s', true),
    ring: row('fastbus channel, chunks through the ring', 'GB/s', true),
  };
  for (let r = 0; r < repeat('bandwidth'); r++) {
    ctx.progress(`channel: bandwidth, repetition ${r + 1}/${ctx.repeat}`);
    bw1.net.samples.push((await netOneWay(k1, MiB)) * MiB / 1e9);
    bw1.arena.samples.push((await channelOneWay(k1, MiB, false, { views: true }, { largePayload: 'arena' })) * MiB / 1e9);
    bw1.arenaCopy.samples.push((await channelOneWay(k1, MiB, false, {}, { largePayload: 'arena' })) * MiB / 1e9);
    bw1.cma.samples.push((await channelOneWay(k1, MiB, false, { views: true }, { largePayload: 'cma' })) * MiB / 1e9);
    bw1.memfd.samples.push((await channelOneWay(k1, MiB, false, { views: true }, { largePayload: 'memfd' })) * MiB / 1e9);
    bw1.ring.samples.push((await channelOneWay(k1, MiB, false, { views: true }, { largePayload: 'ring' })) * MiB / 1e9);
    bw1.c.samples.push(cReadvGbps(readvBw, MiB, k1));
    bw64.c.samples.push(cReadvGbps(readvBw, 64 * MiB, k64));
    bw64.cma.samples.push((await channelOneWay(k64, 64 * MiB, false, { views: true }, { largePayload: 'cma' })) * 64 * MiB / 1e9);
    bw64.arena.samples.push((await channelOneWay(k64, 64 * MiB, false, { views: true }, { largePayload: 'arena', arenaMaxBytes: 256 * MiB })) * 64 * MiB / 1e9);
    bw64.memfd.samples.push((await channelOneWay(k64, 64 * MiB, false, { views: true }, { largePayload: 'memfd' })) * 64 * MiB / 1e9);
    bw64.ring.samples.push((await channelOneWay(k64, 64 * MiB, false, { views: true }, { largePayload: 'ring' })) * 64 * MiB / 1e9);
  }

  const tables: Table[] = [
    { title: 'Bandwidth with default options, 1 MiB payloads', rows: Object.values(def1), baseline: def1.netUp.label, note: `${d1} payloads per sample; no views, no largePayload on either side: the receiver gets a buffer of its own` },
    { title: 'Bandwidth with default options, 64 MiB payloads', rows: Object.values(def64), baseline: def64.c.label, note: `${d64} payloads per sample; no views, no largePayload on either side (so in pieces through the arena), unless the row says otherwise` },
    ...landingTables(landing, l1, l64),
    { title: 'One-way 64-byte messages per second', rows: Object.values(oneWay), baseline: oneWay.ipcJson.label, note: `${nCh} per sample for channels` },
    { title: 'Round trip, sleeping (median)', rows: Object.values(rtt), baseline: rtt.cEventfd.label, note: `${nSleep} ping-pongs of 64 bytes per sample` },
    { title: 'Round trip, busy polling (median)', rows: Object.values(busy), baseline: busy.cBusy.label, note: `${nBusy} ping-pongs per sample` },
    { title: 'Bandwidth, 1 MiB payloads', rows: Object.values(bw1), baseline: bw1.net.label, note: `${k1} payloads per sample; receiver in views mode (a view of the arena, or one reused buffer for CMA) unless it copies` },
    { title: 'Bandwidth, 64 MiB payloads', rows: Object.values(bw64), baseline: bw64.c.label, note: `${k64} payloads per sample; receiver in views mode; the arena row raises arenaMaxBytes to 256 MiB (its arena is 128 MiB)` },
  ];
  notes.push('Parent pinned to CPU 0 and peer to CPU 1 (taskset), as the C programs pin themselves; the machine is shared, so compare ratios within a run.');
  notes.push('CPU cost: no mode but busy uses CPU while idle; by default (pollUs 50) the loop polls after a wake-up for an adaptive window of up to 50 µs, one core per end while messages keep coming within it, and sleeps at once when they come further apart than four windows (or a full window keeps missing them); with pollUs 0 a sleeping consumer costs one eventfd write per wake-up; spinUs burns up to that long after each batch, blocking the event loop; busy mode keeps one core at 100% per busy end.');
  return { tables: tables.filter((t) => t.rows.every((r) => r.samples.length > 0)), notes };
}
