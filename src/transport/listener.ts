// Listening sockets for a bus: unix path/abstract (through the native door),
// tcp (node:net), and sockets inherited by systemd socket activation
// (LISTEN_FDS/LISTEN_PID, fds from 3). Each accepted connection comes with
// its peer credentials, read once at accept, and a stream in raw mode. A unix
// listener out of descriptors stops watching and retries (ACCEPT_RETRY_MS)
// instead of being called back for ever; libuv does the same job for tcp.
import net from 'node:net';
import { chmodSync, readFileSync, readlinkSync, unlinkSync } from 'node:fs';
import * as native from '../native/native.js';
import { SystemError } from '../errors.js';
import { BusAddressError, type BusAddress } from './bus-address.js';
import type { MessageStream } from './message-stream.js';
import { readPeerCredentials, type PeerCredentials } from './peer-credentials.js';
import { resolveListenAddress, unixSocketBytes } from './socket-address.js';
import { TcpStream } from './tcp-stream.js';
import { UnixStream } from './unix-stream.js';

/** A connection just accepted: still in raw mode, before authentication. */
export interface AcceptedConnection {
  stream: MessageStream;
  /** Unix sockets only. */
  credentials: PeerCredentials | undefined;
}

export interface Listener {
  /** The address clients connect to (real path, real tcp port), without guid. */
  readonly address: BusAddress;
  /** Stops taking new connections: they wait in the kernel's backlog (unix) or unread (tcp) until resume(). */
  pause(): void;
  resume(): void;
  close(): void;
}

export type ConnectionHandler = (connection: AcceptedConnection) => void;

/**
 * Told when accept fails for a reason other than an aborted or missing connection
 * (EMFILE, ENFILE, ENOBUFS, ENOMEM: out of descriptors or memory), once until a
 * connection is accepted again; then `recovered` gets the time it took.
 */
export interface AcceptTrouble {
  failed(error: SystemError): void;
  recovered(afterMs: number): void;
}

/** How long a unix listener stops watching after accept failed, before it tries again. */
export const ACCEPT_RETRY_MS = 100;

const BACKLOG = 4096;

function acceptUnix(fd: number, onConnection: ConnectionHandler, withPidfd: boolean): void {
  let credentials: PeerCredentials | undefined;
  try {
    credentials = readPeerCredentials(fd, withPidfd);
  } catch {
    credentials = undefined;
  }
  onConnection({ stream: new UnixStream(fd), credentials });
}

class UnixListener implements Listener {
  readonly address: BusAddress;
  private readonly fd: number;
  private poll: native.PollHandle | null;
  private readonly unlinkPath: string | undefined;
  private paused = false;

  /** Set while accept failed (out of fds): when it did, and the timer that retries. */
  private failedAt: number | undefined;
  private retry: NodeJS.Timeout | undefined;

  constructor(fd: number, address: BusAddress, onConnection: ConnectionHandler, nonBlocking: boolean, private readonly trouble?: AcceptTrouble, unlinkPath?: string) {
    this.fd = fd;
    this.address = address;
    this.unlinkPath = unlinkPath;
    this.poll = native.pollOpen(fd, native.POLL_READABLE, (status) => {
      if (status < 0) return;
      // An inherited socket may be blocking: accept once per readiness then.
      for (let i = 0; i < (nonBlocking ? 64 : 1); i++) {
        const c = native.sockAccept(this.fd);
        if (c === -native.ECONNABORTED || c === -native.EINTR) continue;
        if (c === -native.EAGAIN) return;
        if (c < 0) {
          this.acceptFailed(-c);
          return;
        }
        if (this.failedAt !== undefined) {
          this.trouble?.recovered(Date.now() - this.failedAt);
          this.failedAt = undefined;
        }
        acceptUnix(c, onConnection, true);
      }
    });
  }

  /**
   * Out of descriptors (or memory): the connection stays in the backlog and the
   * socket readable, so the poll would call back at once, for ever. Stop watching
   * and try again a little later (fds are freed by connections closing).
   */
  private acceptFailed(errno: number): void {
    if (this.failedAt === undefined) {
      this.failedAt = Date.now();
      this.trouble?.failed(new SystemError(errno, 'accept', this.address.params.path ?? `@${this.address.params.abstract}`));
    }
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.watch();
    }, ACCEPT_RETRY_MS);
    this.retry.unref();
    this.watch();
  }

  pause(): void {
    this.paused = true;
    this.watch();
  }

  resume(): void {
    this.paused = false;
    this.watch();
  }

  /** Watches the socket for connections unless paused. */
  private watch(): void {
    if (this.poll) native.pollUpdate(this.poll, this.paused || this.retry !== undefined ? 0 : native.POLL_READABLE);
  }

  close(): void {
    if (!this.poll) return;
    clearTimeout(this.retry);
    native.pollClose(this.poll);
    this.poll = null;
    native.fdClose(this.fd);
    if (this.unlinkPath) {
      try {
        unlinkSync(this.unlinkPath);
      } catch {
        // already gone
      }
    }
  }
}

class TcpListener implements Listener {
  /** Sockets accepted while paused (node:net accepts whatever comes), unread until resume(). */
  private held: net.Socket[] | undefined;
  private server: net.Server | undefined;

  /** Set by listen(). */
  address: BusAddress = { transport: 'tcp', params: {} };

  constructor(private readonly onConnection: ConnectionHandler) {}

  /** Listens; resolves with the real port. */
  async listen(host: string, port: number, ipv6Only: boolean): Promise<net.AddressInfo> {
    const server = net.createServer({ pauseOnConnect: false }, (socket) => this.accepted(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, ipv6Only }, () => resolve());
    });
    return server.address() as net.AddressInfo;
  }

  private accepted(socket: net.Socket): void {
    if (this.held === undefined) {
      this.onConnection({ stream: new TcpStream(socket), credentials: undefined });
      return;
    }
    socket.pause();
    socket.on('error', () => socket.destroy());
    this.held.push(socket);
  }

  pause(): void {
    this.held ??= [];
  }

  resume(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const socket of held) {
      if (socket.destroyed) continue;
      socket.removeAllListeners('error');
      socket.resume();
      this.accepted(socket);
    }
  }

  close(): void {
    this.server?.close();
    for (const socket of this.held ?? []) socket.destroy();
    this.held = undefined;
  }
}

/**
 * Listens on one address alternative (unix path/abstract/dir/tmpdir, or tcp;
 * port 0 picks a free port, shown in `address`). Throws BusAddressError for an
 * address it cannot listen on and SystemError when the socket calls fail.
 */
export async function openListener(address: BusAddress, onConnection: ConnectionHandler, trouble?: AcceptTrouble): Promise<Listener> {
  if (address.transport === 'unix') {
    const resolved = resolveListenAddress(address);
    const bytes = unixSocketBytes(resolved);
    const fd = native.check(native.sockOpen(native.SOCK_STREAM), 'socket');
    let r = native.sockBind(fd, bytes);
    if (r === 0) r = native.sockListen(fd, BACKLOG);
    if (r < 0) {
      native.fdClose(fd);
      throw new SystemError(-r, 'bind', resolved.params.path ?? `@${resolved.params.abstract}`);
    }
    const params: Record<string, string> = resolved.params.abstract !== undefined
      ? { abstract: resolved.params.abstract } : { path: Buffer.from(bytes).toString('utf8') };
    if (params.path !== undefined) {
      // As dbus-daemon: the socket file is 0777 whatever the umask; who may
      // connect is for authentication and policy (a directory can still limit it).
      try {
        chmodSync(params.path, 0o777);
      } catch (e) {
        native.fdClose(fd);
        unlinkSync(params.path);
        throw e; // Node's error: code, syscall 'chmod', path
      }
    }
    return new UnixListener(fd, { transport: 'unix', params }, onConnection, true, trouble, params.path);
  }
  if (address.transport === 'tcp') {
    const p = address.params;
    const host = p.bind ?? p.host ?? 'localhost';
    const listener = new TcpListener(onConnection);
    const real = await listener.listen(host, Number(p.port ?? 0), p.family === 'ipv6');
    const params: Record<string, string> = { host: p.host ?? host, port: String(real.port) };
    if (p.family) params.family = p.family;
    listener.address = { transport: 'tcp', params };
    return listener;
  }
  throw new BusAddressError(`cannot listen on transport '${address.transport}' (supported: unix, tcp)`);
}

/**
 * The listening sockets systemd passed us (LISTEN_FDS for this LISTEN_PID),
 * as listeners; an empty list when there are none. Clears the variables so
 * children do not inherit them.
 */
export function listenersFromEnvironment(onConnection: ConnectionHandler, trouble?: AcceptTrouble): Listener[] {
  const count = Number(process.env.LISTEN_FDS ?? 0);
  const pid = process.env.LISTEN_PID;
  if (!count || (pid !== undefined && Number(pid) !== process.pid)) return [];
  delete process.env.LISTEN_FDS;
  delete process.env.LISTEN_PID;
  delete process.env.LISTEN_FDNAMES;
  const out: Listener[] = [];
  for (let i = 0; i < count; i++) {
    const name = boundName(3 + i);
    const params: Record<string, string> = name === undefined ? { path: `(fd ${3 + i})` } : name.startsWith('@') ? { abstract: name.slice(1) } : { path: name };
    out.push(new UnixListener(3 + i, { transport: 'unix', params }, onConnection, false, trouble));
  }
  return out;
}

/** The name a unix socket fd is bound to, from /proc (`@name` for abstract), or undefined. */
function boundName(fd: number): string | undefined {
  try {
    const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
    if (!inode) return undefined;
    for (const line of readFileSync('/proc/self/net/unix', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[6] === inode && f[7]) return f[7];
    }
  } catch {
    // no /proc: the address stays unknown
  }
  return undefined;
}
