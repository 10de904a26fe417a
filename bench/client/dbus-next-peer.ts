// The dbus-next 0.10 side of the client benchmark, the same roles and output
// as fastbus-peer.ts, written the way dbus-next's documentation shows.
import dbus from 'dbus-next';
import { measure } from './peer-common.js';

const [mode, address, name, rounds, calls, depth] = process.argv.slice(2);
const bus = dbus.sessionBus({ busAddress: address });
if (mode === 'service') {
  class Bench extends dbus.interface.Interface {
    Echo(s: string): string {
      return s;
    }
  }
  Bench.configureMembers({ methods: { Echo: { inSignature: 's', outSignature: 's' } } });
  bus.export('/bench', new Bench('com.example.Bench'));
  await bus.requestName(name, 0);
  console.log('ready');
} else {
  const obj = await bus.getProxyObject(name, '/bench');
  const bench = obj.getInterface('com.example.Bench') as unknown as { Echo(s: string): Promise<string> };
  console.log(JSON.stringify(await measure((s) => bench.Echo(s), Number(rounds), Number(calls), Number(depth))));
  bus.disconnect();
}
