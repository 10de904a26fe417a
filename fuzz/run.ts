// `npm run fuzz [-- --iterations N] [--seed S]`: the long fuzz run of every
// fuzzer in fuzz/ (`*.fuzz.js` exporting a `fuzz*` function of
// (iterations, seed) returning failures). Prints failures with their seed.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({ options: { iterations: { type: 'string', default: '1000000' }, seed: { type: 'string' } } });
const iterations = Number(values.iterations);
const seed = values.seed ? Number(values.seed) : Date.now() % 1_000_000;

let failed = 0;
for (const file of readdirSync(here).filter((f) => f.endsWith('.fuzz.js')).sort()) {
  const mod = (await import(path.join(here, file))) as Record<string, unknown>;
  for (const [name, fn] of Object.entries(mod)) {
    if (!name.startsWith('fuzz') || typeof fn !== 'function') continue;
    const t0 = Date.now();
    const failures = (fn as (n: number, s: number) => Array<{ input: string; problem: string }>)(iterations, seed);
    console.log(`${file} ${name}: ${iterations} cases from seed ${seed} in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${failures.length} failures`);
    for (const f of failures) console.log(`  ${f.problem}\n    input: ${f.input}`);
    failed += failures.length;
  }
}
process.exitCode = failed ? 1 : 0;
