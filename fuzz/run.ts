// `npm run fuzz [-- --iterations N] [--seed S] [--only NAME]`: the long fuzz
// run of every parser fuzzer in fuzz/ (`*.fuzz.js` exporting a `fuzz*`
// function of (iterations, seed) returning failures), one parser after the
// other, in chunks of CHUNK cases (chunk k from seed `chunkSeed(S, k)`), with
// progress on stderr. Prints failures with their input.
// `npm run fuzz -- live [--seconds S] [--seed N] [--clients C]`: the stateful
// fuzzer against a live bus (live-fuzz.ts).
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { FuzzFailure } from './wire.fuzz.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    iterations: { type: 'string', default: '1000000' },
    seed: { type: 'string' },
    only: { type: 'string' },
    seconds: { type: 'string', default: '10' },
    clients: { type: 'string', default: '4' },
  },
});
// Most cases end in a parser's own error, and capturing its stack was half
// of the run's time: failures are reported by input and message instead.
Error.stackTraceLimit = 0;
const seed = values.seed ? Number(values.seed) : Date.now() % 1_000_000;

/** Cases per chunk: progress is printed between chunks. */
const CHUNK = 50_000;

/** The seed of chunk `k` of a run from `seed`. */
export function chunkSeed(seed: number, k: number): number {
  return (seed + Math.imul(k, 0x9e3779b1)) >>> 0;
}

type Fuzzer = (iterations: number, seed: number) => FuzzFailure[];

function runParser(label: string, fn: Fuzzer, iterations: number): number {
  const t0 = Date.now();
  let lastPrint = t0;
  const failures: FuzzFailure[] = [];
  for (let done = 0, k = 0; done < iterations && failures.length < 10; k++) {
    const n = Math.min(CHUNK, iterations - done);
    failures.push(...fn(n, chunkSeed(seed, k)).map((f) => ({ ...f, problem: `${f.problem} (chunk ${k})` })));
    done += n;
    const now = Date.now();
    if (now - lastPrint >= 5000 || done === iterations) {
      lastPrint = now;
      const rate = done / ((now - t0) / 1000);
      process.stderr.write(`  ${label}: ${done}/${iterations} (${Math.round(rate)}/s, ${Math.round((iterations - done) / rate)} s left)\n`);
    }
  }
  console.log(`${label}: ${iterations} cases from seed ${seed} in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${failures.length} failures`);
  for (const f of failures) console.log(`  ${f.problem}\n    input: ${f.input}`);
  return failures.length;
}

if (positionals[0] === 'live') {
  const { runLiveFuzz } = await import('./live-fuzz.js');
  const report = await runLiveFuzz({ seconds: Number(values.seconds), seed, clients: Number(values.clients), log: (s) => process.stderr.write(`${s}\n`) });
  console.log(report.summary);
  process.exitCode = report.ok ? 0 : 1;
} else {
  const iterations = Number(values.iterations);
  let failed = 0;
  for (const file of readdirSync(here).filter((f) => f.endsWith('.fuzz.js')).sort()) {
    const mod = (await import(path.join(here, file))) as Record<string, unknown>;
    for (const [name, fn] of Object.entries(mod)) {
      if (!name.startsWith('fuzz') || typeof fn !== 'function') continue;
      const label = `${file} ${name}`;
      if (values.only && !label.toLowerCase().includes(values.only.toLowerCase())) continue;
      failed += runParser(label, fn as Fuzzer, iterations);
    }
  }
  process.exitCode = failed ? 1 : 0;
}
