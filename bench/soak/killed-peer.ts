// A peer for the soak that is killed mid-message: it connects to the bus
// ($1), says Hello, starts sending one large call to the soak service ($2)
// and prints 'sending'; the soak then kills it with SIGKILL while the bus is
// still reading that message.
import { connectBus } from '../../src/transport/index.js';
import { encodeMessage, MessageType } from '../../src/wire/index.js';

const [address, destination] = process.argv.slice(2);
const { stream } = await connectBus(address);
stream.onMessage = () => {};
stream.resume();
const dbus = { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus' };
stream.send(encodeMessage({ type: MessageType.METHOD_CALL, flags: 0, serial: 1, ...dbus, member: 'Hello', body: [] }));
stream.send(encodeMessage({
  type: MessageType.METHOD_CALL, flags: 0, serial: 2, destination, path: '/soak', interface: 'org.fastbus.soak', member: 'EchoBytes', signature: 'ay',
  body: [Buffer.alloc(48 * 1024 * 1024, 7)],
}));
process.stdout.write('sending\n');
setInterval(() => {}, 1000);
