// The fastbus side of the client benchmark: `service ADDRESS NAME` exports
// com.example.Bench.Echo at /bench; `client ADDRESS NAME ROUNDS CALLS DEPTH`
// calls it through a proxy and prints the measurement as JSON.
import { connect, defineInterface } from '../../src/client/index.js';
import { measure } from './peer-common.js';

const [mode, address, name, rounds, calls, depth] = process.argv.slice(2);
const bus = await connect(address);
process.on('SIGTERM', () => process.exit(0));
if (mode === 'service') {
  const Bench = defineInterface({ name: 'com.example.Bench', methods: { Echo: { in: 's', out: 's' } } });
  bus.export('/bench', Bench, { Echo: (s: string) => s });
  await bus.requestName(name);
  console.log('ready');
} else {
  const bench = (await bus.proxy(name, '/bench')).getInterface<{ Echo(s: string): Promise<string> }>('com.example.Bench');
  console.log(JSON.stringify(await measure((s) => bench.Echo(s), Number(rounds), Number(calls), Number(depth))));
  bus.close();
}
