// The client side of a transport: connect to the first usable alternative of
// a bus address (unix path/abstract/runtime, tcp) and authenticate, giving a
// stream that carries messages.
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import * as native from '../native/native.js';
import { SystemError } from '../errors.js';
import { BusAddressError, parseBusAddress, type BusAddress } from './bus-address.js';
import { authenticateClient } from './handshake.js';
import type { MessageStream } from './message-stream.js';
import { unixSocketBytes } from './socket-address.js';
import { TcpStream } from './tcp-stream.js';
import { UnixStream } from './unix-stream.js';

export interface ConnectOptions {
  /** Ask for unix fd passing (default true on unix sockets). */
  negotiateUnixFd?: boolean;
  timeoutMs?: number;
}

/** An authenticated connection; its stream is paused until the owner wires handlers and calls resume(). */
export interface BusConnection {
  stream: MessageStream;
  guid: string;
  unixFd: boolean;
  address: BusAddress;
}

async function connectUnix(a: BusAddress): Promise<UnixStream> {
  const bytes = unixSocketBytes(a);
  const fd = native.check(native.sockOpen(native.SOCK_STREAM), 'socket');
  for (let attempt = 0; ; attempt++) {
    const r = native.sockConnect(fd, bytes);
    if (r === 0) return new UnixStream(fd);
    // A full backlog answers EAGAIN on unix sockets: try again shortly.
    if (r === -native.EAGAIN && attempt < 200) {
      await delay(5);
      continue;
    }
    native.fdClose(fd);
    throw new SystemError(-r, 'connect', a.params.path ?? `@${a.params.abstract ?? ''}`);
  }
}

function connectTcp(a: BusAddress): Promise<TcpStream> {
  return new Promise((resolve, reject) => {
    const family = a.params.family === 'ipv6' ? 6 : a.params.family === 'ipv4' ? 4 : 0;
    const socket = net.connect({ host: a.params.host ?? 'localhost', port: Number(a.params.port), family });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(new TcpStream(socket));
    });
  });
}

/** Connects and authenticates to the first alternative of `address` that works; throws the last failure. */
export async function connectBus(address: string | BusAddress[], options: ConnectOptions = {}): Promise<BusConnection> {
  const list = typeof address === 'string' ? parseBusAddress(address) : address;
  let last: Error = new BusAddressError(`no usable alternative in bus address`);
  for (const a of list) {
    if (a.transport !== 'unix' && a.transport !== 'tcp') continue;
    if (a.transport === 'unix' && (a.params.dir !== undefined || a.params.tmpdir !== undefined)) continue;
    try {
      const stream = a.transport === 'unix' ? await connectUnix(a) : await connectTcp(a);
      const auth = await authenticateClient(
        stream,
        { uid: a.transport === 'unix' ? process.getuid?.() : process.getuid?.(), negotiateUnixFd: options.negotiateUnixFd ?? stream.fdCapable },
        options.timeoutMs,
      );
      return { stream, guid: auth.guid, unixFd: auth.unixFd, address: a };
    } catch (e) {
      last = e as Error;
    }
  }
  throw last;
}
