// The floor of the bridge benchmark: the `nats` client's own request/reply.
// `service URL SUBJECT` answers every request with its payload (in a queue
// group, as exporting bridges do); `client URL SUBJECT ROUNDS CALLS DEPTH`
// sends requests whose payload is the D-Bus message the bridged client sends
// (the same size), and prints the measurement as JSON.
import { connect } from 'nats';
import { encodeMessage, MessageType } from '../../src/wire/index.js';
import { measure, PAYLOAD } from '../client/peer-common.js';

const [mode, url, subject, rounds, calls, depth] = process.argv.slice(2);
const nc = await connect({ servers: url });
process.on('SIGTERM', () => process.exit(0));
if (mode === 'service') {
  nc.subscribe(subject, { queue: 'bench', callback: (error, msg) => (error ? undefined : msg.respond(msg.data)) });
  await nc.flush();
  console.log('ready');
} else {
  const call = encodeMessage({
    type: MessageType.METHOD_CALL, flags: 0, serial: 1, destination: 'com.example.Bench.Fastbus', path: '/bench',
    interface: 'com.example.Bench', member: 'Echo', signature: 's', body: [PAYLOAD], sender: ':1.100',
  });
  const echo = async (s: string): Promise<string> => {
    const reply = await nc.request(subject, call, { timeout: 30000 });
    return reply.data.length === call.length ? s : 'wrong reply';
  };
  console.log(JSON.stringify(await measure(echo, Number(rounds), Number(calls), Number(depth))));
  await nc.close();
}
