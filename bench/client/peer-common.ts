// What the Node benchmark peers share: the echo payload, the measurement loop
// (blocking round trips then `depth` calls in flight) and the JSON they print.

export const PAYLOAD = '0123456789abcdef';

/**
 * Untimed calls before the timed ones, the same for every pair (the C one
 * too): a fresh Node process needs a few thousand calls before V8 has
 * optimized its hot path, and until then its p99 is about 1.5 ms.
 */
export const WARMUP_CALLS = 3000;

export interface ClientResult {
  p50: number;
  p99: number;
  callsPerSec: number;
  /** CPU time of the client process during the pipelined calls, µs per call. */
  clientCpuUs: number;
}

/** Measures `rounds` sequential calls, then `calls` calls keeping `depth` outstanding. */
export async function measure(echo: (s: string) => Promise<unknown>, rounds: number, calls: number, depth: number): Promise<ClientResult> {
  for (let i = 0; i < WARMUP_CALLS; i++) await echo(PAYLOAD);
  const lat = new Float64Array(rounds);
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    const r = await echo(PAYLOAD);
    lat[i] = (performance.now() - t0) * 1000;
    if (r !== PAYLOAD) throw new Error(`echo returned ${String(r)}`);
  }
  lat.sort();
  // The harness samples the service's and the bus's CPU time between this line and the result.
  process.stdout.write('pipeline\n');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await pipelined(() => echo(PAYLOAD), calls, depth);
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { p50: lat[rounds >> 1], p99: lat[Math.floor(rounds * 0.99)], callsPerSec: calls / secs, clientCpuUs: (cpu.user + cpu.system) / calls };
}

/** Makes `calls` calls of `call`, keeping `depth` of them in flight; rejects with the first failure. */
export function pipelined(call: () => Promise<unknown>, calls: number, depth: number): Promise<void> {
  let issued = 0;
  let done = 0;
  return new Promise<void>((resolve, reject) => {
    const next = (): void => {
      issued++;
      call().then(() => {
        if (++done === calls) resolve();
        else if (issued < calls) next();
      }, reject);
    };
    for (let i = 0; i < depth && issued < calls; i++) next();
  });
}
