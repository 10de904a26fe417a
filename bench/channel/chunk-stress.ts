// A stress run for the wait loop (not part of `npm run bench`): PAIRS channel
// pairs at once, each moving COUNT payloads of 64 MiB in chunks through the
// ring (largePayload 'ring') child -> parent, then parent -> child, checking
// their digests, for ROUNDS rounds, with pollUs POLL_US on both ends. A stall
// (no progress for 30 s) ends it with exit code 2. Run it beside other load:
//   ROUNDS=12 PAIRS=2 node dist/bench/channel/chunk-stress.js
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fork, type ChannelOptions } from '../../src/channel/index.js';

const PEER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/channel-peers/peer.js');
const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const ROUNDS = env('ROUNDS', 10), PAIRS = env('PAIRS', 2), COUNT = env('COUNT', 3), STALL_MS = 30_000;
const SIZE = 64 << 20;
const options: ChannelOptions = { largePayload: 'ring', pollUs: env('POLL_US', 50) };

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const expected = Array.from({ length: COUNT }, (_, i) => sha256(pattern(SIZE, i)));
let progress = Date.now();

function forkPeer(mode: string, args: string[]) {
  return fork(PEER, [mode, ...args], { ...options, env: { ...process.env, PEER_OPTIONS: JSON.stringify(options) } });
}

async function pair(id: number): Promise<void> {
  const up = forkPeer('burst', [String(COUNT), String(SIZE)]);
  const got: string[] = [];
  await new Promise<void>((resolve) => up.channel.on('message', (m: unknown) => {
    progress = Date.now();
    if (!(m instanceof Uint8Array)) return resolve();
    got.push(sha256(m));
  }));
  if (got.join() !== expected.join()) throw new Error(`pair ${id}: payloads child -> parent differ`);
  await up.channel.close();
  const down = forkPeer('digest', []);
  const answers: string[] = [];
  const all = new Promise<void>((resolve) => down.channel.on('message', (m: { sha256: string }) => {
    progress = Date.now();
    if (answers.push(m.sha256) === COUNT) resolve();
  }));
  for (let i = 0; i < COUNT; i++) {
    await down.channel.send(pattern(SIZE, i));
    progress = Date.now();
  }
  await all;
  if (answers.join() !== expected.join()) throw new Error(`pair ${id}: payloads parent -> child differ`);
  await down.channel.close();
}

const watchdog = setInterval(() => {
  if (Date.now() - progress <= STALL_MS) return;
  console.log(`STALL: no progress for ${STALL_MS / 1000} s`);
  process.exit(2);
}, 1000);
for (let r = 0; r < ROUNDS; r++) {
  const t0 = Date.now();
  await Promise.all(Array.from({ length: PAIRS }, (_, i) => pair(i)));
  console.log(`round ${r + 1}/${ROUNDS}: ${PAIRS} pairs, ${2 * COUNT} payloads of 64 MiB each, in ${Date.now() - t0} ms (load ${os.loadavg()[0].toFixed(1)})`);
}
clearInterval(watchdog);
console.log('no stall');
