// The baselines of the channel benchmarks, each measured in the same run as
// the channel rows: Node's unix sockets and child_process IPC, a bare libuv
// eventfd poller, the C ping-pong and process_vm_readv programs, memcpy; and
// the helpers the rows share (pinning, stopping a peer, a timed ping-pong).
import { execFileSync, fork as cpFork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Channel } from '../../src/channel/index.js';
import * as native from '../../src/native/native.js';
import { median, percentile } from '../harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const PEER = path.join(here, 'peer.js');

export function pin(pid: number, cpus: number | string): void {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', typeof cpus === 'number' ? String(cpus % os.cpus().length) : cpus, String(pid)], { stdio: 'ignore' });
  } catch {
    // No taskset: the scheduler places the processes.
  }
}

export async function stop(child: ChildProcess, channel?: Channel): Promise<void> {
  const exited = child.exitCode === null ? once(child, 'exit') : Promise.resolve();
  if (channel) await channel.close();
  else child.kill();
  await exited;
}

/** Bytes per second over a unix socket from this process to the peer, length-prefixed frames copied once each by the peer. */
export async function netDown(n: number, size: number): Promise<number> {
  const sockPath = path.join(os.tmpdir(), `fastbus-bench-channel-${process.pid}.sock`);
  rmSync(sockPath, { force: true });
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(sockPath, r));
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const child = cpFork(PEER, ['net-recv', sockPath, String(n), String(size)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [sock] = await accepted;
  pin(child.pid!, 1);
  const frame = Buffer.alloc(4 + size, 1);
  frame.writeUInt32LE(size, 0);
  const done = once(sock, 'data');
  const t0 = performance.now();
  for (let i = 0; i < n; i++) if (!sock.write(frame)) await once(sock, 'drain');
  await done;
  const t1 = performance.now();
  const exited = once(child, 'exit');
  sock.destroy();
  server.close();
  await exited;
  rmSync(sockPath, { force: true });
  return n * size / ((t1 - t0) / 1000);
}

/** memcpy of `size` bytes between two warm buffers (Uint8Array.set), bytes per second. */
export function memcpyRate(size: number, repeat: number): number {
  const from = new Uint8Array(size).fill(3), to = new Uint8Array(size).fill(4);
  to.set(from);
  const t0 = performance.now();
  for (let i = 0; i < repeat; i++) to.set(i & 1 ? to : from, 0);
  return size * repeat / ((performance.now() - t0) / 1000);
}

export async function ipcOneWay(n: number, serialization: 'json' | 'advanced'): Promise<number> {
  const child = cpFork(PEER, ['ipc-send', String(n)], { serialization, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await once(child, 'spawn');
  pin(child.pid!, 1);
  let count = 0;
  const done = new Promise<number>((resolve) => child.on('message', () => { if (++count === n) resolve(performance.now()); }));
  const t0 = performance.now();
  child.send('go');
  const t1 = await done;
  await stop(child);
  return n / ((t1 - t0) / 1000);
}

/** A unix socket server and a connected peer running `args`; frames decoded with one copy each. */
export async function netPeer(args: (sockPath: string) => string[], onFrame: (frame: Buffer) => void): Promise<{ child: ChildProcess; sock: net.Socket; close(): Promise<void> }> {
  const sockPath = path.join(os.tmpdir(), `fastbus-bench-channel-${process.pid}.sock`);
  rmSync(sockPath, { force: true });
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(sockPath, r));
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const child = cpFork(PEER, args(sockPath), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [sock] = await accepted;
  pin(child.pid!, 1);
  let frame: Buffer | null = null;
  let filled = 0;
  let head = Buffer.alloc(0);
  sock.on('data', (chunk: Buffer) => {
    let at = 0;
    while (at < chunk.length) {
      if (frame === null) {
        const need = 4 - head.length;
        head = Buffer.concat([head, chunk.subarray(at, at + need)]);
        at += Math.min(need, chunk.length - at);
        if (head.length < 4) return;
        frame = Buffer.allocUnsafe(head.readUInt32LE(0));
        filled = 0;
        head = Buffer.alloc(0);
      }
      const n = Math.min(frame.length - filled, chunk.length - at);
      chunk.copy(frame, filled, at, at + n);
      filled += n;
      at += n;
      if (filled === frame.length) {
        const f = frame;
        frame = null;
        onFrame(f);
      }
    }
  });
  return {
    child, sock,
    async close() {
      const exited = once(child, 'exit');
      sock.destroy();
      server.close();
      await exited;
      rmSync(sockPath, { force: true });
    },
  };
}

export async function netOneWay(n: number, size: number): Promise<number> {
  let count = 0;
  let resolveDone!: (t: number) => void;
  const done = new Promise<number>((resolve) => { resolveDone = resolve; });
  const peer = await netPeer((p) => ['net-send', p, String(n), String(size)], () => { if (++count === n) resolveDone(performance.now()); });
  const t0 = performance.now();
  peer.sock.write(Buffer.of(1));
  const t1 = await done;
  await peer.close();
  return n / ((t1 - t0) / 1000);
}

/** Median round trip in µs over n ping-pongs (after 100 to warm up), and p99. */
export function pingPong(n: number, send: () => void, onReply: (cb: () => void) => void): Promise<[number, number]> {
  const rtts: number[] = new Array(n);
  let i = -100;
  let t0 = 0;
  return new Promise((resolve) => {
    onReply(() => {
      const t = performance.now();
      if (i >= 0) rtts[i] = (t - t0) * 1000;
      if (++i === n) return resolve([median(rtts), percentile(rtts, 99)]);
      t0 = performance.now();
      send();
    });
    t0 = performance.now();
    send();
  });
}

/** The same ping-pong with no channel: two Node processes, each a libuv poller on an eventfd (the floor under the default mode). */
export async function eventfdNodeRoundTrip(n: number): Promise<[number, number]> {
  const ping = native.check(native.efdOpen(0), 'eventfd');
  const pong = native.check(native.efdOpen(0), 'eventfd');
  const child = cpFork(PEER, ['efd-echo'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc', ping, pong] });
  await once(child, 'spawn');
  pin(child.pid!, 1);
  let reply: () => void = () => {};
  const poller = native.pollOpen(pong, native.POLL_READABLE, () => {
    native.efdDrain(pong);
    reply();
  });
  const r = await pingPong(n, () => { native.efdSignal(ping, 1); }, (cb) => { reply = cb; });
  native.pollClose(poller);
  await stop(child);
  for (const fd of [ping, pong]) native.fdClose(fd);
  return r;
}

export async function ipcRoundTrip(n: number): Promise<[number, number]> {
  const child = cpFork(PEER, ['ipc-echo'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await once(child, 'spawn');
  pin(child.pid!, 1);
  const msg = 'x'.repeat(64);
  const r = await pingPong(n, () => child.send(msg), (cb) => child.on('message', cb));
  await stop(child);
  return r;
}

export async function netRoundTrip(n: number): Promise<[number, number]> {
  let reply: () => void = () => {};
  const peer = await netPeer((p) => ['net-echo', p], () => reply());
  const frame = Buffer.alloc(68);
  frame.writeUInt32LE(64, 0);
  const r = await pingPong(n, () => peer.sock.write(frame), (cb) => { reply = cb; });
  await peer.close();
  return r;
}

export function cPingPong(binary: string, mode: string, n: number): [number, number] {
  const [med, p99] = execFileSync(binary, [mode, String(n)], { encoding: 'utf8' }).trim().split(' ').map(Number);
  return [med, p99];
}

export function cReadvGbps(binary: string, size: number, repeat: number): number {
  return Number(execFileSync(binary, ['pair', String(size), String(repeat)], { encoding: 'utf8' }).trim());
}

