// `npm run soak [-- --clients N] [--minutes M] [--seed S]`: the soak of a
// fastbus bus (soak.ts). The defaults finish in about a minute; the long run
// is `npm run soak -- --clients 1000 --minutes 10` (docs/BENCHMARKS.md).
// Exits 1 if a reply was lost or wrong or the bus stopped answering.
import { parseArgs } from 'node:util';
import { runSoak } from './soak.js';

const { values } = parseArgs({ options: { clients: { type: 'string', default: '100' }, minutes: { type: 'string', default: '1' }, seed: { type: 'string', default: '1' } } });
const report = await runSoak({
  clients: Number(values.clients), seconds: Number(values.minutes) * 60, seed: Number(values.seed),
  log: (line) => process.stderr.write(`${line}\n`),
});
console.log(`npm run soak -- --clients ${values.clients} --minutes ${values.minutes} --seed ${values.seed}`);
console.log(report.summary);
process.exitCode = report.tally.lost === 0 && report.tally.wrong === 0 && report.busUp ? 0 : 1;
