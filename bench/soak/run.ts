// `npm run soak [-- --clients N] [--minutes M] [--seed S]`: the soak of a
// fastbus bus (soak.ts). The defaults finish in about a minute; the long run
// is `npm run soak -- --clients 1000 --minutes 10` (docs/BENCHMARKS.md).
// Exits 1 if a reply was lost or wrong or the bus stopped answering.
import { parseArgs } from 'node:util';
import { runSoak } from './soak.js';

const USAGE = `usage: npm run soak [-- --clients N] [--minutes M] [--seed S]
  --clients N   clients on the bus, services and slow readers included (default 100)
  --minutes M   how long the load runs (default 1)
  --seed S      seed of the callers' random choices (default 1)
Exits 1 if a reply was lost or wrong or the bus stopped answering.`;

let values;
try {
  ({ values } = parseArgs({ options: { clients: { type: 'string', default: '100' }, minutes: { type: 'string', default: '1' }, seed: { type: 'string', default: '1' }, help: { type: 'boolean', short: 'h' } } }));
} catch (e) {
  console.error(`${(e as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const clients = Number(values.clients), minutes = Number(values.minutes), seed = Number(values.seed);
if (!Number.isInteger(clients) || clients < 3 || !(minutes > 0) || !Number.isInteger(seed)) {
  console.error(`soak: --clients must be a whole number >= 3, --minutes a positive number, --seed a whole number\n${USAGE}`);
  process.exit(2);
}
const report = await runSoak({
  clients, seconds: minutes * 60, seed,
  log: (line) => process.stderr.write(`${line}\n`),
});
console.log(`npm run soak -- --clients ${values.clients} --minutes ${values.minutes} --seed ${values.seed}`);
console.log(report.summary);
process.exitCode = report.tally.lost === 0 && report.tally.wrong === 0 && report.busUp ? 0 : 1;
