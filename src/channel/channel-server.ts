// listen(path): a unix socket (SOCK_SEQPACKET, mode 0600) where unrelated
// processes connect to get a channel. For each connection the server makes a
// segment and two doorbells, passes them with SCM_RIGHTS, and keeps the
// socket open to see the peer hang up. Only peers of an allowed uid get one.
import { EventEmitter } from 'node:events';
import { chmodSync, unlinkSync } from 'node:fs';
import {
  EAGAIN, POLL_READABLE, SOCK_SEQPACKET, check, fdClose, pollClose, pollOpen, sockAccept, sockBind, sockListen,
  sockOpen, sockPeercred, sockSend, type PollHandle,
} from '../native/native.js';
import type { Channel, ChannelOptions } from './channel.js';
import { LAYOUT_VERSION } from './segment.js';
import { createEnds, openCreated, DEFAULT_RING_BYTES } from './setup.js';

/** Options of listen(): the channel options plus the server's own. */
export interface ListenOptions extends ChannelOptions {
  /** Bytes per ring, a power of two (default 1 MiB). */
  ringSizeBytes?: number;
  /** Uids allowed to connect besides this process's own. */
  allowUids?: number[];
}

/** Encodes a socket path; a leading '\0' names an abstract socket. */
export function socketAddress(path: string): Uint8Array {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('path must be a non-empty string');
  const bytes = Buffer.from(path);
  if (bytes.byteLength > 107) throw new RangeError(`socket path is ${bytes.byteLength} bytes, more than the 107 a unix socket allows`);
  return bytes;
}

/** A listening channel endpoint. Events: 'connection' (channel), 'rejected' (pid, uid). */
export class ChannelServer extends EventEmitter {
  readonly path: string;
  private readonly fd: number;
  private readonly poll: PollHandle;
  private readonly options: ListenOptions;
  private open = true;

  /** @internal use listen(). */
  constructor(path: string, options: ListenOptions) {
    super();
    const address = socketAddress(path);
    this.path = path;
    this.options = options;
    this.fd = check(sockOpen(SOCK_SEQPACKET), 'socket');
    try {
      check(sockBind(this.fd, address), 'bind', path);
      if (!path.startsWith('\0')) chmodSync(path, 0o600);
      check(sockListen(this.fd, 128), 'listen', path);
    } catch (e) {
      fdClose(this.fd);
      throw e;
    }
    this.poll = pollOpen(this.fd, POLL_READABLE, () => this.accept());
  }

  /** Stops accepting (and removes the socket file); open channels stay open. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    pollClose(this.poll);
    fdClose(this.fd);
    if (!this.path.startsWith('\0')) {
      try { unlinkSync(this.path); } catch { /* already gone */ }
    }
  }

  private accept(): void {
    for (;;) {
      if (!this.open) return;
      const cfd = sockAccept(this.fd);
      if (cfd === -EAGAIN) return;
      if (cfd < 0) {
        this.emit('error', check(cfd, 'accept') as never);
        return;
      }
      try {
        this.handOver(cfd);
      } catch (e) {
        fdClose(cfd);
        this.emit('error', e);
      }
    }
  }

  private handOver(cfd: number): void {
    const cred = new Int32Array(3);
    check(sockPeercred(cfd, cred), 'getsockopt', 'SO_PEERCRED');
    const [pid, uid] = cred;
    const myUid = process.getuid?.() ?? -1;
    if (uid !== myUid && !(this.options.allowUids ?? []).includes(uid)) {
      fdClose(cfd);
      this.emit('rejected', pid, uid);
      return;
    }
    const created = createEnds(this.options.ringSizeBytes ?? DEFAULT_RING_BYTES);
    const hello = Buffer.from(JSON.stringify({ t: 'hello', v: LAYOUT_VERSION }));
    const sent = sockSend(cfd, [hello], Int32Array.of(created.segment.fd, created.efds[0], created.efds[1]));
    if (sent < 0) {
      created.abandon();
      check(sent, 'sendmsg', 'channel hello');
    }
    const channel: Channel = openCreated(created, cfd, pid, this.options);
    channel.once('ready', () => this.emit('connection', channel));
  }
}

/** Listens for channel connections on a unix socket path (or '\0abstract'). */
export function listen(path: string, options: ListenOptions = {}): ChannelServer {
  return new ChannelServer(path, options);
}
