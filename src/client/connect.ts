// Opening a client connection: the transport and its authentication, Hello,
// and (with `direct: 'auto'` on a unix socket that passes fds) asking the bus
// for the direct path, which a bus without the extension refuses harmlessly.
import { connectBus } from '../transport/index.js';
import { Connection } from './connection.js';
import type { ConnectionOptions } from './connection-options.js';

const DBUS = 'org.freedesktop.DBus';
const DBUS_PATH = '/org/freedesktop/DBus';

/** Opens a connection to `address` (a D-Bus address), authenticates, and says Hello. */
export async function connect(address: string, options: ConnectionOptions = {}): Promise<Connection> {
  const timeoutMs = options.connectTimeoutMs ?? 25000;
  const { stream, guid, unixFd } = await connectBus(address, { timeoutMs, negotiateUnixFd: options.negotiateUnixFd });
  const connection = new Connection(stream, guid, unixFd, options);
  if (options.peer) return connection;
  try {
    const [name] = await connection.callMethod({ destination: DBUS, path: DBUS_PATH, interface: DBUS, member: 'Hello' }, { timeoutMs });
    connection.uniqueName = name as string;
    if ((options.direct ?? 'auto') === 'auto' && unixFd) await connection.enableDirect(options.directBusy === true);
  } catch (e) {
    connection.close();
    throw e;
  }
  return connection;
}
