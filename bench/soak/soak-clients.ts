// The clients of the soak (soak.ts), all real fastbus client connections:
// services that answer Echo and emit Tick signals, and callers that loop over
// a mix of calls, pipelined calls, large bodies, name acquisition and loss,
// signal subscriptions and leaving and coming back. Every reply is checked
// against what was sent; a failed call is a lost reply, a different answer a
// wrong one.
import { connect, defineInterface, type Connection } from '../../src/client/index.js';
import { prng } from '../../fuzz/wire.fuzz.js';

export const SERVICE = 'org.fastbus.soak.Service';
export const Soak = defineInterface({
  name: 'org.fastbus.soak',
  methods: {
    Echo: { in: [{ name: 'text', type: 's' }], out: 's' },
    EchoBytes: { in: [{ name: 'data', type: 'ay' }], out: 'ay' },
  },
  signals: { Tick: { args: 'u' } },
});

/** What the clients saw; shared by all of them. */
export class SoakTally {
  calls = 0;
  lost = 0;
  wrong = 0;
  signals = 0;
  nameChanges = 0;
  reconnects = 0;
  largeBodies = 0;
  /** Pairs (caller, service) whose caller sent on a channel, and the messages it sent there, counted as callers leave. */
  directPairs = 0;
  directSent = 0;
  /** The first few lost or wrong replies, described. */
  faults: string[] = [];
  /** Call round trips (ms) of the current interval. */
  latencies: number[] = [];

  fault(kind: 'lost' | 'wrong', what: string): void {
    this[kind]++;
    if (this.faults.length < 10) this.faults.push(`${kind}: ${what}`);
  }
}

/** A service: owns `${SERVICE}${k}`, answers Echo and EchoBytes, emits Tick every `tickMs`. */
export async function startService(address: string, k: number, tickMs: number): Promise<{ name: string; close(): void }> {
  const bus = await connect(address);
  const exported = bus.export('/soak', Soak, {
    Echo(text: string) { return text; },
    EchoBytes(data: Uint8Array) { return data; },
  });
  const name = `${SERVICE}${k}`;
  await bus.requestName(name, 4);
  let tick = 0;
  const timer = setInterval(() => exported.emit('Tick', ++tick), tickMs);
  return { name, close: () => { clearInterval(timer); bus.close(); } };
}

/** Counts the caller's direct pairs before it leaves. */
function countDirect(bus: Connection, tally: SoakTally): void {
  for (const p of bus.directPeers()) {
    if (!p.switched) continue;
    tally.directPairs++;
    tally.directSent += p.sent;
  }
}

function randomText(rnd: () => number, max: number): string {
  const n = Math.floor(rnd() * max);
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(0x61 + Math.floor(rnd() * 26));
  return s;
}

/** One caller: loops until `deadline`, then resolves (its connection closed). */
export async function runCaller(address: string, k: number, services: string[], deadline: number, seed: number, tally: SoakTally, thinkMs: number): Promise<void> {
  const rnd = prng((seed * 7919 + k) >>> 0);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  let bus: Connection = await connect(address);
  const timed = async (destination: string, member: 'Echo' | 'EchoBytes', arg: string | Uint8Array): Promise<void> => {
    const t0 = performance.now();
    let body: unknown[];
    try {
      body = await bus.callMethod({ destination, path: '/soak', interface: 'org.fastbus.soak', member, signature: member === 'Echo' ? 's' : 'ay', body: [arg] });
    } catch (e) {
      tally.fault('lost', `${member} to ${destination} from caller ${k}: ${(e as Error).message}`);
      return;
    }
    tally.calls++;
    tally.latencies.push(performance.now() - t0);
    const got = body[0];
    const same = typeof arg === 'string' ? got === arg : got instanceof Uint8Array && Buffer.compare(Buffer.from(got), Buffer.from(arg)) === 0;
    if (!same) tally.fault('wrong', `${member} to ${destination} from caller ${k} answered ${String(got).slice(0, 40)}`);
  };
  // A fifth of the callers listen to one service's ticks: each must come from that service.
  const subscribe = async (): Promise<void> => {
    if (rnd() >= 0.2) return;
    const from = pick(services);
    const owner = await bus.getNameOwner(from);
    await bus.subscribe({ sender: from, interface: 'org.fastbus.soak', member: 'Tick' }, (m) => {
      tally.signals++;
      if (m.sender !== owner || m.member !== 'Tick') tally.fault('wrong', `caller ${k} subscribed to ${from} got ${m.member} from ${m.sender}`);
    });
  };
  await subscribe();
  while (Date.now() < deadline) {
    const r = rnd();
    const to = pick(services);
    if (r < 0.45) await timed(to, 'Echo', randomText(rnd, 200));
    else if (r < 0.65) await Promise.all(Array.from({ length: 8 }, () => timed(to, 'Echo', randomText(rnd, 64))));
    else if (r < 0.67) {
      const data = Buffer.alloc(256 * 1024 + Math.floor(rnd() * 768 * 1024), k & 0xff);
      data[0] = Math.floor(rnd() * 256);
      data[data.length - 1] = Math.floor(rnd() * 256);
      tally.largeBodies++;
      await timed(to, 'EchoBytes', data);
    } else if (r < 0.8) {
      // Acquire a pooled name, then lose it: the primary owner must be able to release it.
      const name = `org.fastbus.soak.Pool${Math.floor(rnd() * 20)}`;
      try {
        const got = await bus.requestName(name, 4);
        if (got === 1) {
          const released = await bus.releaseName(name);
          if (released !== 1) tally.fault('wrong', `caller ${k} owned ${name} but ReleaseName answered ${released}`);
          tally.nameChanges++;
        } else if (got !== 3) tally.fault('wrong', `RequestName(${name}, DO_NOT_QUEUE) answered ${got}`);
      } catch (e) {
        tally.fault('lost', `name calls of caller ${k}: ${(e as Error).message}`);
      }
    } else if (r < 0.84) {
      // Leave and come back as a new connection.
      countDirect(bus, tally);
      bus.close();
      bus = await connect(address);
      tally.reconnects++;
      await subscribe();
    }
    await new Promise((resolve) => setTimeout(resolve, rnd() * thinkMs));
  }
  countDirect(bus, tally);
  bus.close();
}
