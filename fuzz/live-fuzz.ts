// The stateful fuzzer against a live bus: a real fastbus bus (its CLI, as
// users run it) and `clients` raw clients, each sending sequences from
// live-traffic.ts (seeded: client k's n-th sequence is the same for a given
// seed). After each sequence a well-behaved client must still get answers
// from the bus and, through it, from a service; the bus must still run.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import * as native from '../src/native/native.js';
import { parseBusAddress, unixSocketBytes, UnixStream } from '../src/transport/index.js';
import { decodeMessage, encodeMessage, MessageType } from '../src/wire/index.js';
import { CLI, printedAddress, stopDaemon } from '../test/fixtures/bus.js';
import { DBUS, raw, type Raw } from '../test/fixtures/raw-client.js';
import { ECHO_NAME, sequence, type Step } from './live-traffic.js';
import { prng } from './wire.fuzz.js';

export interface LiveFuzzOptions {
  seconds: number;
  seed: number;
  /** Raw clients sending at once. */
  clients: number;
  /** Sequences each client plays even past the deadline (a short run on a loaded machine still covers them). */
  minSequences?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface LiveFuzzReport {
  ok: boolean;
  sequences: number;
  checks: number;
  /** What went wrong (empty when ok). */
  problems: string[];
  /** Lines the bus logged, by their first words (drop reasons). */
  busLog: Map<string, number>;
  summary: string;
}

const CONFIG = `<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen><auth>EXTERNAL</auth>
  <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/><allow user="*"/></policy>
  <limit name="max_message_size">1048576</limit><limit name="max_outgoing_bytes">4194304</limit><limit name="auth_timeout">5000</limit>
  <limit name="max_replies_per_connection">64</limit></busconfig>`;

/** The longest a well-behaved call may wait before the bus counts as not answering (a watchdog, not a measure). */
const ANSWER_WATCHDOG_MS = 20_000;

/** Plays `steps` on a new raw connection to `socket`; resolves when done (the bus may hang up at any point). */
async function play(socket: Uint8Array, steps: Step[]): Promise<void> {
  const fd = native.check(native.sockOpen(native.SOCK_STREAM), 'socket');
  for (let attempt = 0; ; attempt++) {
    const r = native.sockConnect(fd, socket);
    if (r === 0) break;
    if (r === -native.EAGAIN && attempt < 400) {
      await delay(5);
      continue;
    }
    native.fdClose(fd);
    throw new Error(`connect failed: errno ${-r}`);
  }
  const stream = new UnixStream(fd);
  let closed = false;
  const done = new Promise<void>((resolve) => {
    stream.onClose = () => {
      closed = true;
      resolve();
    };
  });
  stream.onRaw = () => {};
  stream.onMessage = () => {};
  stream.resume();
  for (const step of steps) {
    if (closed) break;
    if (step.kind === 'bytes') {
      const fds: number[] = [];
      for (let k = 0; k < (step.fds ?? 0); k++) fds.push(openSync('/dev/null', 'r'));
      stream.send(step.bytes, fds.length ? fds : undefined, true);
    } else if (step.kind === 'begin') stream.startMessages(new Uint8Array(0));
    else if (step.kind === 'pause') stream.pause();
    else if (step.kind === 'resume') stream.resume();
    else {
      stream.close();
      break;
    }
    await new Promise<void>((r) => setImmediate(r));
  }
  // Let the bus answer what it will, then hang up (a paused stream never reads it).
  if (!closed) {
    await Promise.race([done, delay(20)]);
    stream.close();
  }
  await done;
}

/** Calls the echo service through the bus and the bus itself; a problem, or null. */
async function answered(checker: Raw): Promise<string | null> {
  // Cancelled once the race is decided: a pending watchdog would hold the process open for its full length.
  const stop = new AbortController();
  const watchdog = delay(ANSWER_WATCHDOG_MS, 'timeout' as const, { signal: stop.signal }).catch(() => 'cancelled' as const);
  const work = (async () => {
    const id = await checker.call({ ...DBUS, member: 'GetId' });
    if (id.type !== MessageType.METHOD_RETURN) return `GetId answered ${id.errorName}`;
    const echo = await checker.call({ destination: ECHO_NAME, path: '/echo', interface: 'org.fastbus.fuzz', member: 'Echo', signature: 's', body: ['ping'] });
    if (echo.type !== MessageType.METHOD_RETURN || echo.body[0] !== 'ping') return `Echo answered ${echo.errorName ?? JSON.stringify(echo.body)}`;
    return null;
  })().catch((e: Error) => `the well-behaved client failed: ${e.message}`);
  const r = await Promise.race([work, watchdog]);
  stop.abort();
  return r === 'timeout' ? `no answer within ${ANSWER_WATCHDOG_MS} ms` : r;
}

/** Runs the live fuzzer; never throws for what the bus does (that is in the report). */
export async function runLiveFuzz(o: LiveFuzzOptions): Promise<LiveFuzzReport> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fastbus-live-fuzz-'));
  writeFileSync(path.join(dir, 'bus.conf'), CONFIG);
  const child = spawn(process.execPath, [CLI, 'daemon', `--config-file=${path.join(dir, 'bus.conf')}`, '--nofork', '--print-address', `--address=unix:path=${path.join(dir, 'bus')}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const busLog = new Map<string, number>();
  // 'exit' can come before the last of stderr has been read: the report waits for its end.
  const stderrEnded = new Promise<void>((resolve) => child.stderr!.once('close', () => resolve()));
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    for (let nl = err.indexOf('\n'); nl >= 0; nl = err.indexOf('\n')) {
      const key = err.slice(0, nl).replace(/:1\.\d+/g, ':1.N').replace(/\d+/g, 'N').slice(0, 90);
      busLog.set(key, (busLog.get(key) ?? 0) + 1);
      err = err.slice(nl + 1);
    }
  });
  const problems: string[] = [];
  let sequences = 0;
  let checks = 0;
  let busExit: string | undefined;
  try {
    const address = await printedAddress(child, (code) => `the bus exited with ${code} before printing its address`);
    child.once('exit', (code, signal) => {
      busExit = `the bus exited (${code ?? signal})`;
    });
    const socket = unixSocketBytes(parseBusAddress(address)[0]);
    const echo = await raw(address);
    await echo.call({ ...DBUS, member: 'RequestName', signature: 'su', body: [ECHO_NAME, 4] });
    // The service answers every call to it with its own body.
    echo.stream.onMessage = (f) => {
      try {
        const m = decodeMessage(f);
        if (m.unixFds) for (const fd of echo.stream.takeFds(m.unixFds)) closeSync(fd);
        if (m.type !== MessageType.METHOD_CALL || (m.flags & 1) !== 0 || m.sender === undefined) return;
        const body = m.signature === 's' ? m.body : [];
        echo.stream.send(encodeMessage({ type: MessageType.METHOD_RETURN, flags: 1, serial: 1, replySerial: m.serial, destination: m.sender, signature: body.length ? 's' : '', body }));
      } catch (e) {
        problems.push(`the echo service failed on what the bus delivered: ${(e as Error).message}`);
      }
    };
    let finishing = false;
    void echo.closed.then(() => {
      if (!finishing) problems.push('the bus disconnected the well-behaved echo service');
    });
    const checker = await raw(address);
    const uid = process.getuid?.() ?? 0;
    const deadline = Date.now() + o.seconds * 1000;
    let lastLog = Date.now();
    const client = async (k: number): Promise<void> => {
      const rnd = prng((o.seed * 1000 + k) >>> 0);
      for (let n = 0; (Date.now() < deadline || n < (o.minSequences ?? 0)) && problems.length === 0; n++) {
        const steps = sequence(rnd, uid);
        try {
          await play(socket, steps);
        } catch (e) {
          problems.push(`client ${k} sequence ${n}: ${(e as Error).message}`);
        }
        sequences++;
        const problem = busExit ?? await answered(checker);
        checks++;
        if (problem) problems.push(`after client ${k} sequence ${n} (seed ${o.seed}): ${problem}; its steps: ${steps.map((s) => (s.kind === 'bytes' ? s.what : s.kind)).join(', ')}`);
        if (o.log && Date.now() - lastLog > 10_000) {
          lastLog = Date.now();
          o.log(`  live fuzz: ${sequences} sequences, ${checks} checks, ${Math.round((deadline - Date.now()) / 1000)} s left`);
        }
      }
    };
    await Promise.all(Array.from({ length: o.clients }, (_, k) => client(k)));
    // A new client is accepted and answered at the end too.
    if (problems.length === 0) {
      const late = await raw(address);
      const p = await answered(late);
      if (p) problems.push(`a new client at the end: ${p}`);
      late.stream.close();
    }
    finishing = true;
    echo.stream.close();
    checker.stream.close();
  } catch (e) {
    problems.push(`the run failed: ${(e as Error).message}`);
  } finally {
    if (busExit) problems.push(busExit);
    await stopDaemon(child, dir);
    await stderrEnded;
    rmSync(dir, { recursive: true, force: true });
  }
  const drops = [...busLog].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, v]) => `    ${v} × ${k}`).join('\n');
  const summary = `live fuzz: seed ${o.seed}, ${o.clients} clients, ${o.seconds} s: ${sequences} sequences, ${checks} checks answered${problems.length ? `, ${problems.length} problems:\n  ${problems.join('\n  ')}` : ', no problems'}\n  bus log lines (most frequent):\n${drops}`;
  return { ok: problems.length === 0, sequences, checks, problems, busLog, summary };
}
