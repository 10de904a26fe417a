// Per-user fairness on a fastbus bus (issue 14): uid 65534 opens hundreds of
// connections that flood and stop reading, and root's calls through the same
// bus are still queued and answered; root's p99 on the idle bus and during the
// flood is reported (never asserted: that is the benchmark's job). Needs root
// (to start processes as uid 65534, from a copy of the flood peer in a
// directory that uid can read); it checks answers, never times.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBroker, type RunningBroker } from '../src/broker/index.js';
import { connectBus, type MessageStream } from '../src/transport/index.js';
import { decodeMessage, encodeMessage, MessageFlags, MessageType, type Message } from '../src/wire/index.js';
import type { FloodPlan } from './fixtures/flood-peer.js';
import { DBUS, raw, type Raw } from './fixtures/raw-client.js';

const NOBODY = 65534;
const KIB = 1024;
/** Small enough that the flood reaches it at once; below one connection's queue limit, so that it is what protects root. */
const SHARE = 256 * KIB;
const QUEUE = 2048 * KIB;
/** Root's service and caller in processes of their own (test/fixtures/echo-peer.ts). */
const ECHO_PEER = fileURLToPath(new URL('./fixtures/echo-peer.js', import.meta.url));
const ECHO = { destination: 'org.fastbus.test.Echo', path: '/echo', interface: 'org.fastbus.test.Echo', member: 'Echo' };

/** Why this test cannot run here, or false when it can. */
function skipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root to start processes as uid 65534';
  const r = spawnSync(process.execPath, ['-e', '0'], { uid: NOBODY, gid: NOBODY, stdio: 'ignore' });
  if (r.status !== 0) return `uid 65534 cannot run ${process.execPath} (${r.error?.message ?? `exit ${r.status}`})`;
  return false;
}

/** A message as the plan carries it (little-endian; serial patched by the peer). */
function b64(m: Partial<Message>): string {
  return encodeMessage({ type: MessageType.METHOD_CALL, flags: 0, serial: 1, body: [], ...m } as Message).toString('base64');
}

/** Root's service: owns org.fastbus.test.Echo and answers Echo with its argument; `paused` stops it reading. */
async function echoService(address: string): Promise<MessageStream> {
  const { stream } = await connectBus(address);
  let serial = 0;
  const send = (m: Partial<Message>): void => stream.send(encodeMessage({ flags: 0, body: [], ...m, serial: ++serial } as Message));
  stream.onMessage = (frame) => {
    const m = decodeMessage(frame);
    if (m.type !== MessageType.METHOD_CALL || m.member !== 'Echo') return;
    if (m.flags & MessageFlags.NO_REPLY_EXPECTED) return;
    send({ type: MessageType.METHOD_RETURN, flags: MessageFlags.NO_REPLY_EXPECTED, replySerial: m.serial, destination: m.sender, signature: m.signature, body: m.body });
  };
  stream.resume();
  send({ type: MessageType.METHOD_CALL, ...DBUS, member: 'Hello' });
  send({ type: MessageType.METHOD_CALL, ...DBUS, member: 'RequestName', signature: 'su', body: ['org.fastbus.test.Echo', 4] });
  return stream;
}

const skip = skipReason();

describe('per-user fairness on a fastbus bus', { skip, timeout: 240000 }, () => {
  let dir: string;
  let bus: RunningBroker;
  const log: string[] = [];
  let logWaiters: Array<() => void> = [];
  const children: ChildProcess[] = [];
  let service: MessageStream;
  let root: Raw;

  /** Resolves at the first log line matching `re` (the test's watchdog bounds the wait). */
  function logLine(re: RegExp): Promise<string> {
    return new Promise((resolve) => {
      const check = (): void => {
        const l = log.find((x) => re.test(x));
        if (l !== undefined) resolve(l);
        else logWaiters.push(check);
      };
      check();
    });
  }

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'fastbus-fairness-'));
    chmodSync(dir, 0o755);
    bus = await startBroker({
      address: `unix:path=${path.join(dir, 'bus')}`,
      allowUids: [0, NOBODY],
      limits: { maxQueuedBytesPerUser: SHARE, maxQueuedBytes: QUEUE },
      log: (line) => {
        log.push(line);
        for (const w of logWaiters.splice(0)) w();
      },
    });
    chmodSync(path.join(dir, 'bus'), 0o666);
    service = await echoService(bus.address);
    root = await raw(bus.address);
    // The service answers once it owns the name (the bus handles its messages in order).
    const first = await root.call({ ...ECHO, signature: 's', body: ['ready'] });
    assert.equal(first.body[0], 'ready');
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
    root?.stream.close();
    service?.close();
    bus?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts one flooding process of uid 65534 with `plan` (copied where that uid can read it). */
  async function flood(name: string, groups: FloodPlan['groups']): Promise<void> {
    const script = path.join(dir, 'flood-peer.mjs');
    copyFileSync(fileURLToPath(new URL('./fixtures/flood-peer.js', import.meta.url)), script);
    chmodSync(script, 0o644);
    const planFile = path.join(dir, `${name}.json`);
    const plan: FloodPlan = { socket: path.join(dir, 'bus'), hello: b64({ ...DBUS, member: 'Hello' }), groups };
    writeFileSync(planFile, JSON.stringify(plan), { mode: 0o644 });
    const child = spawn(process.execPath, [script, planFile], { uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready\n')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`flood peer ${name} exited (${code}) before it was ready`)));
    });
  }

  /** Root's caller in a process of its own: `n` untimed, then `n` timed sequential calls to `name`, each reply checked. */
  async function rootCalls(name: string, n: number): Promise<{ p99Ms: number; answered: number; wrong: number }> {
    const child = spawn(process.execPath, [ECHO_PEER, 'rtt', bus.address, name, String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, out);
    return JSON.parse(out) as { p99Ms: number; answered: number; wrong: number };
  }

  it("answers every call of root while uid 65534 floods the same service from hundreds of connections, and reports root's p99 idle and flooded", async (t) => {
    // Root's service and caller run in processes of their own: what is timed is the bus, not a shared event loop.
    const name = 'org.fastbus.test.Echo2';
    const svc = spawn(process.execPath, [ECHO_PEER, 'service', bus.address, name], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(svc);
    await new Promise<void>((resolve, reject) => {
      svc.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
      svc.once('exit', (code) => reject(new Error(`echo service exited (${code})`)));
    });
    const idle = await rootCalls(name, 100);
    const payload = 'x'.repeat(8 * KIB);
    const small = 'y'.repeat(KIB);
    const to = { ...ECHO, destination: name, interface: name };
    const groups: FloodPlan['groups'] = [
      // Calls to root's service (which reads): no-reply ones, and ones whose replies nobody reads.
      { connections: 40, prelude: [], flood: [b64({ ...to, flags: MessageFlags.NO_REPLY_EXPECTED, signature: 's', body: [small] })] },
      { connections: 30, prelude: [], flood: [b64({ ...to, signature: 's', body: [payload] })] },
      // Broadcast signals to each other, never read.
      { connections: 30, prelude: [b64({ ...DBUS, member: 'AddMatch', signature: 's', body: ["type='signal',interface='org.fastbus.test.Flood'"] })],
        flood: [b64({ type: MessageType.SIGNAL, path: '/flood', interface: 'org.fastbus.test.Flood', member: 'Tick', signature: 's', body: [small] })] },
    ];
    const first = children.length;
    await flood('c', groups);
    await flood('d', groups);
    await logLine(/UID 65534 .*reached its share/);
    const flooded = await rootCalls(name, 100);
    // Not a bound (the machine may be loaded): the figures the issue asks to see, from the same run.
    t.diagnostic(`root's call p99: ${idle.p99Ms.toFixed(2)} ms on the idle bus, ${flooded.p99Ms.toFixed(2)} ms while uid 65534 floods from 200 connections`);
    assert.deepEqual([idle.answered, idle.wrong, flooded.answered, flooded.wrong], [200, 0, 200, 0]);
    assert.equal(log.filter((l) => /uid 0\)|UID 0 /.test(l)).length, 0, 'no connection of root was dropped or refused');
    // The flood ends; the next test starts from a bus that has let go of it.
    for (const c of children.slice(first)) c.kill('SIGKILL');
    svc.kill('SIGKILL');
    while (bus.broker.accounts.get(NOBODY) !== undefined) await root.call({ ...DBUS, interface: 'org.freedesktop.DBus.Peer', member: 'Ping' });
    // The next test looks for its own log lines.
    log.length = 0;
  });

  it("queues and answers root's calls while uid 65534 floods from hundreds of connections that stop reading", async () => {
    // Root's service stops reading: what reaches it waits in its queue, charged to whoever sent it.
    service.pause();
    const payload = 'x'.repeat(8 * KIB);
    const groups: FloodPlan['groups'] = [
      // Calls to root's service, whose replies (or refusals) nobody reads.
      { connections: 60, prelude: [], flood: [b64({ ...ECHO, signature: 's', body: [payload] })] },
      // Broadcast signals to each other, never read.
      { connections: 40, prelude: [b64({ ...DBUS, member: 'AddMatch', signature: 's', body: ["type='signal',interface='org.fastbus.test.Flood'"] })],
        flood: [b64({ type: MessageType.SIGNAL, path: '/flood', interface: 'org.fastbus.test.Flood', member: 'Tick', signature: 's', body: [payload] })] },
    ];
    await flood('a', groups);
    await flood('b', groups);
    await logLine(/UID 65534 .*reached its share/);
    // uid 65534's messages in the bus stay within twice its share (past its share, only receivers that keep up get more).
    const nobody = bus.broker.accounts.get(NOBODY)!;
    assert.ok(nobody.queuedBytes <= 2 * SHARE, `${nobody.queuedBytes} bytes charged to uid 65534`);

    // Root's calls still fit in the service's queue: none is refused, though the service reads nothing yet.
    const bodies = Array.from({ length: 50 }, (_, i) => `root call ${i} ${'r'.repeat(1024)}`);
    const serials = bodies.map((b) => root.send({ ...ECHO, signature: 's', body: [b] }));
    // A Ping to the bus after them: once it is answered, every refusal of the calls above would have arrived.
    await root.call({ ...DBUS, interface: 'org.freedesktop.DBus.Peer', member: 'Ping' });
    assert.deepEqual(root.inbox.filter((m) => m.type === MessageType.ERROR).map((m) => m.errorName), []);

    service.resume();
    const replies = await Promise.all(serials.map((s) => root.next((m) => m.replySerial === s)));
    assert.deepEqual(replies.map((m) => [m.type, m.body[0]]), bodies.map((b) => [MessageType.METHOD_RETURN, b]));
    // uid 65534's receivers that do not read are dropped for its share; root's connections are not.
    await logLine(/uid 65534\): too slow: The messages of UID 65534/);
    assert.equal(log.filter((l) => /uid 0\)|UID 0 /.test(l)).length, 0, log.filter((l) => /uid 0\)|UID 0 /.test(l)).join('\n'));
    assert.equal(root.isClosed(), false);
    const again = await root.call({ ...ECHO, signature: 's', body: ['after the flood'] });
    assert.equal(again.body[0], 'after the flood');
  });
});
