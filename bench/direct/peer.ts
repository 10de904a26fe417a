// The fastbus side of the direct-path benchmark, with the sd-bus peer's modes
// (bench/c/sdbus-peer.c) and outputs, so that the harness runs both alike.
// argv: MODE ADDRESS DIRECT(auto|off) BUSY(0|1) ...
//   service                 owns org.fastbus.Bench; /bench: Echo(s)->s, EchoBytes(ay)->ay, Ping()
//   rtt N                   N blocking Echo calls; prints "p50_us p99_us"
//   pipeline N DEPTH        N Echo calls, DEPTH outstanding; prints "calls_per_s"
//   bytes SIZE N [WARM]     N blocking EchoBytes of SIZE bytes; prints "median_us"; with WARM, WARM
//                           untimed calls of that size first, and prints "median_us first_us" (the first of all)
//   subscribe N             matches Tick signals; prints its unique name and "ready", then "done NS" after N
//   emit N WARM NAME...     pings each subscriber NAME until direct (if DIRECT), emits WARM Tick(u), pinging each
//                           NAME after each quarter (the reply comes once NAME has them all), then prints
//                           "start NS", emits N Tick(u)
// Every client mode first makes WARMUP untimed calls (steady state, and the switch to a channel).
import { connect, defineInterface, type Connection } from '../../src/client/index.js';
import { PAYLOAD, pipelined } from '../client/peer-common.js';

const [mode, address, direct, busy, ...rest] = process.argv.slice(2);
const NAME = 'org.fastbus.Bench';
const IFACE = 'org.fastbus.Bench';
/** Untimed calls first (the harness lowers it for busy channels, which share two vCPUs with everything else). */
const WARMUP = Number(process.env.FASTBUS_BENCH_WARMUP ?? 3000);
const bus = await connect(address, { direct: direct as 'auto' | 'off', directBusy: busy === '1' });
process.on('SIGTERM', () => process.exit(0));

const Bench = defineInterface({
  name: IFACE,
  methods: { Echo: { in: 's', out: 's' }, EchoBytes: { in: 'ay', out: 'ay' }, Ping: {} },
  signals: { Tick: { args: [{ name: 'n', type: 'u' }] } },
});

const handlers = { Echo: (s: string) => s, EchoBytes: (b: Uint8Array) => b, Ping() {} };

function echo(): Promise<unknown> {
  return bus.callMethod({ destination: NAME, path: '/bench', interface: IFACE, member: 'Echo', signature: 's', body: [PAYLOAD] });
}

async function warm(): Promise<void> {
  for (let i = 0; i < WARMUP; i++) await echo();
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function ping(c: Connection, name: string): Promise<void> {
  await c.callMethod({ destination: name, path: '/bench', interface: IFACE, member: 'Ping' });
}

switch (mode) {
  case 'service': {
    bus.export('/bench', Bench, handlers);
    await bus.requestName(NAME, 0);
    console.log('ready');
    break;
  }
  case 'rtt': {
    await warm();
    const n = Number(rest[0]);
    const lat = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await echo();
      lat[i] = (performance.now() - t0) * 1000;
    }
    lat.sort();
    console.log(`${percentile(lat, 0.5).toFixed(2)} ${percentile(lat, 0.99).toFixed(2)}`);
    bus.close();
    break;
  }
  case 'pipeline': {
    await warm();
    const [n, depth] = rest.map(Number);
    const t0 = performance.now();
    await pipelined(echo, n, depth);
    console.log((n / ((performance.now() - t0) / 1000)).toFixed(0));
    bus.close();
    break;
  }
  case 'bytes': {
    await warm();
    const [size, n, untimed = 0] = rest.map(Number);
    const payload = new Uint8Array(size).fill(0x5a);
    const all = new Float64Array(n + untimed);
    for (let i = 0; i < n + untimed; i++) {
      const t0 = performance.now();
      const [back] = await bus.callMethod({ destination: NAME, path: '/bench', interface: IFACE, member: 'EchoBytes', signature: 'ay', body: [payload] });
      all[i] = (performance.now() - t0) * 1000;
      if ((back as Uint8Array).length !== size) throw new Error('reply size');
    }
    const t = all.slice(untimed).sort();
    console.log(untimed > 0 ? `${percentile(t, 0.5).toFixed(2)} ${all[0].toFixed(2)}` : percentile(t, 0.5).toFixed(2));
    bus.close();
    break;
  }
  case 'subscribe': {
    const wanted = Number(rest[0]);
    bus.export('/bench', Bench, handlers);
    let got = 0;
    await bus.subscribe({ path: '/bench', interface: IFACE, member: 'Tick' }, () => {
      if (++got === wanted) {
        console.log(`done ${process.hrtime.bigint()}`);
        bus.close();
      }
    });
    console.log(`${bus.uniqueName} ready`);
    break;
  }
  case 'emit': {
    const [count, warm, ...names] = rest;
    const exported = bus.export('/bench', Bench, handlers);
    for (const name of names) {
      for (let i = 0; i < 200 && (i < 8 || (direct === 'auto' && !bus.isDirect(name))); i++) await ping(bus, name);
    }
    let i = 0;
    const emitUpTo = (n: number): Promise<void> => new Promise<void>((resolve) => {
      const burst = (): void => {
        for (let k = 0; k < 1024 && i < n; k++) exported.emit('Tick', i++);
        if (i < n) setImmediate(burst);
        else resolve();
      };
      burst();
    });
    // A call behind the signals (same path, same order) returns once a subscriber has them all, or it has left.
    const pingAll = (): Promise<unknown> => Promise.all(names.map((name) => ping(bus, name).catch(() => undefined)));
    // Calls among the warm-up signals, not only after them: V8 optimizes the subscriber's signal path
    // with its code for calls on the channel in use, rather than deoptimizing it when the last call comes.
    const quarter = Math.max(1, Math.floor(Number(warm) / 4));
    for (let w = quarter; w <= Number(warm); w += quarter) {
      await emitUpTo(w);
      await pingAll();
    }
    console.log(`start ${process.hrtime.bigint()}`);
    await emitUpTo(Number(warm) + Number(count));
    await pingAll();
    bus.close();
    break;
  }
  default:
    throw new Error(`bench/direct/peer: bad mode ${mode}`);
}
