// connect(path): the attaching side of a channel. Receives the segment and
// doorbells from the listener over the socket, checks the segment (magic,
// layout version, sizes) and the listener's uid, then opens the channel.
import { ProtocolError } from '../errors.js';
import {
  EAGAIN, MSG_CTRUNC, POLL_DISCONNECT, POLL_READABLE, SOCK_SEQPACKET, check, fdClose, pollClose, sockConnect,
  sockOpen, sockPeercred, sockRecv,
} from '../native/native.js';
import type { Channel, ChannelOptions } from './channel.js';
import { SocketWatch } from './channel-ends.js';
import { socketAddress } from './channel-server.js';
import { LAYOUT_VERSION } from './segment.js';
import { openAttached } from './setup.js';

/** Options of connect(): the channel options plus uids trusted besides our own. */
export interface ConnectOptions extends ChannelOptions {
  allowUids?: number[];
}

/** Connects to a channel listener; resolves once the channel is attached. */
export function connect(path: string, options: ConnectOptions = {}): Promise<Channel> {
  const address = socketAddress(path);
  const fd = check(sockOpen(SOCK_SEQPACKET), 'socket');
  const r = sockConnect(fd, address);
  if (r < 0) {
    fdClose(fd);
    return Promise.reject(check(r, 'connect', path) as never);
  }
  return new Promise<Channel>((resolve, reject) => {
    const watch = new SocketWatch(fd, POLL_READABLE | POLL_DISCONNECT);
    const buf = Buffer.alloc(512);
    const state = new Int32Array(2 + 4);
    const fail = (e: unknown): void => {
      pollClose(watch.handle);
      fdClose(fd);
      reject(e);
    };
    watch.onEvent = (status) => {
      try {
        if (status < 0) return fail(check(status, 'poll', 'channel socket'));
        const n = sockRecv(fd, buf, state);
        if (n === -EAGAIN) return;
        const fds = Array.from(state.subarray(2, 2 + state[0]));
        const closeFds = (): void => { for (const f of fds) fdClose(f); };
        if (n <= 0) {
          closeFds();
          return fail(new ProtocolError('BAD_HANDSHAKE', `channel listener at ${path} closed the connection before the handshake`));
        }
        let hello: { t?: unknown; v?: unknown };
        try {
          hello = JSON.parse(buf.toString('utf8', 0, n)) as typeof hello;
        } catch {
          closeFds();
          return fail(new ProtocolError('BAD_HANDSHAKE', `${path} is not a fastbus channel listener (unreadable hello)`));
        }
        if (hello.t === 'hello' && typeof hello.v === 'number' && hello.v !== LAYOUT_VERSION) {
          closeFds();
          return fail(new ProtocolError('BAD_HANDSHAKE', `channel listener at ${path} speaks channel layout version ${hello.v}, this fastbus speaks ${LAYOUT_VERSION}: upgrade both sides to the same fastbus`));
        }
        if (hello.t !== 'hello' || fds.length !== 3 || (state[1] & MSG_CTRUNC) !== 0) {
          closeFds();
          return fail(new ProtocolError('BAD_HANDSHAKE', `${path} sent a channel hello this fastbus cannot use (version ${String(hello.v)}, ${fds.length} fds; expected version ${LAYOUT_VERSION}, 3 fds)`));
        }
        const cred = new Int32Array(3);
        const credResult = sockPeercred(fd, cred);
        if (credResult < 0) closeFds();
        check(credResult, 'getsockopt', 'SO_PEERCRED');
        const myUid = process.getuid?.() ?? -1;
        if (cred[1] !== myUid && !(options.allowUids ?? []).includes(cred[1])) {
          closeFds();
          return fail(new Error(`channel listener at ${path} runs as uid ${cred[1]}, not an allowed uid (pass allowUids to trust it)`));
        }
        let channel: Channel;
        try {
          channel = openAttached({ sock: fd, memfd: fds[0], efd0: fds[1], efd1: fds[2] }, cred[0], options, watch);
        } catch (e) {
          return fail(e);
        }
        resolve(channel);
      } catch (e) {
        fail(e);
      }
    };
  });
}
