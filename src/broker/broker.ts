// The bus: accepts authenticated connections, gives them unique names and
// takes their messages in (D-Bus specification, "Message Bus Specification").
// Each message is checked once and dispatched by destination: to the driver,
// to the matching rules (fan-out.ts), or to one connection (router.ts); monitors
// get copies (monitors.ts) and replies are tracked (reply-tracker.ts). A peer at
// fault or too slow is dropped with one log line, and nobody else is harmed.
import os from 'node:os';
import { ProtocolError } from '../errors.js';
import { DIRECT_INTERFACE } from '../names/index.js';
import * as native from '../native/native.js';
import { randomBytes } from '../util/random-bytes.js';
// Transport's files one by one, not its index: the bus loads no client side (start-up time).
import { formatBusAddress, parseBusAddress, type BusAddress } from '../transport/bus-address.js';
import { currentCookie } from '../transport/cookie-keyring.js';
import { authenticateServer } from '../transport/handshake.js';
import {
  ACCEPT_RETRY_MS, listenersFromEnvironment, openListener, type AcceptedConnection, type AcceptTrouble, type Listener,
} from '../transport/listener.js';
import { checkMessage, MessageFlags, MessageType, type DecodedMessage } from '../wire/index.js';
import { ActivationQueue } from './activation-queue.js';
import { DEFAULT_DIRECT, type BrokerSettings } from './broker-settings.js';
import { BroadcastNeeds } from './broadcast-needs.js';
import { BusErrors } from './bus-error.js';
import { Connection } from './connection.js';
import { DirectGrants } from './direct-grants.js';
import { Driver } from './driver.js';
import { DRIVER_INTERFACE, DRIVER_NAME } from './driver-names.js';
import { FanOut } from './fan-out.js';
import { IncompleteConnections } from './incomplete-connections.js';
import { Monitors } from './monitors.js';
import { NameRegistry, type OwnerChange } from './name-registry.js';
import { UserAccounts, type UserAccount } from './user-accounts.js';
import { ReplyTracker } from './reply-tracker.js';
import { bodyOf, type Routed } from './routed.js';
import { Router } from './router.js';
import { SharedFds } from './shared-fds.js';
import { answerUndirected } from './undirected-call.js';

/** The message bus. Create with Broker.start(). */
export class Broker {
  readonly guid = randomBytes(16).toString('hex');
  settings: BrokerSettings;
  readonly names = new NameRegistry<Connection>((c, delta) => {
    c.account.names += delta;
  });
  readonly accounts = new UserAccounts();
  readonly uniques = new Map<string, Connection>();
  readonly connections = new Set<Connection>();
  readonly router: Router;
  readonly replies: ReplyTracker;
  readonly fanOut: FanOut;
  readonly monitors: Monitors;
  readonly driver: Driver;
  readonly direct: DirectGrants;
  readonly broadcasts: BroadcastNeeds;
  readonly startedAt = Date.now();
  listeners: Listener[] = [];
  /** The address clients use (all listeners, with guid). */
  address = '';
  private nextId = 1;
  private nextUnique = 1;
  private readonly activationQueue: ActivationQueue;
  /** Accepted connections that have not completed Hello (auth_timeout, max_incomplete_connections). */
  private readonly incomplete: IncompleteConnections;
  /** Variables added by UpdateActivationEnvironment. */
  readonly activationEnvironment = new Map<string, string>();

  private constructor(settings: BrokerSettings) {
    this.settings = settings;
    this.router = new Router(this);
    this.replies = new ReplyTracker(this);
    this.fanOut = new FanOut(this);
    this.monitors = new Monitors(this);
    this.activationQueue = new ActivationQueue(this);
    this.incomplete = new IncompleteConnections({
      limits: () => this.settings.limits,
      listeners: () => this.listeners,
      log: (line) => this.log(line),
    });
    this.driver = new Driver(this);
    this.broadcasts = new BroadcastNeeds(this);
    this.direct = new DirectGrants({
      broadcasts: this.broadcasts,
      sendFromBus: (target, m, fds) => this.router.sendFromBus(target, m, fds),
      replyError: (conn, call, name, text) => this.router.replyError(conn, call, name, text),
      reply: (conn, call, signature, body) => this.router.reply(conn, call, signature, body),
      lookup: (name) => this.lookup(name),
      namesOf: (conn) => this.names.namesOf(conn),
      maxQueuedBytes: () => this.settings.limits.maxQueuedBytes,
      forgetCall: (callee, caller, serial) => void this.replies.answered(callee, caller, serial),
      grantRefusal: () => (this.monitors.size > 0 ? 'a monitor is attached' : this.fanOut.eavesdropping ? 'an eavesdropper is attached'
        : this.settings.messagePolicy?.() !== undefined ? 'send/receive rules apply' : undefined),
      log: (line) => this.log(line),
    }, { ...DEFAULT_DIRECT, ...settings.direct });
  }

  /** Starts listening on every address; resolves once all listen. */
  static async start(settings: BrokerSettings): Promise<Broker> {
    const b = new Broker(settings);
    const onConnection = (c: AcceptedConnection): void => b.accept(c);
    // One line when a listener cannot accept (out of fds), one when it can again; it retries meanwhile.
    const trouble: AcceptTrouble = {
      failed: (e) => b.log(`cannot accept connections: ${e.message}; new clients wait in the backlog, retrying every ${ACCEPT_RETRY_MS} ms`),
      recovered: (ms) => b.log(`accepting connections again after ${ms} ms`),
    };
    try {
      if (settings.socketActivation) b.listeners.push(...listenersFromEnvironment(onConnection, trouble));
      for (const text of settings.listen) {
        // Alternatives of one <listen> are tried in order until one works.
        let last: Error | undefined;
        let ok = false;
        for (const a of parseBusAddress(text)) {
          try {
            b.listeners.push(await openListener(a, onConnection, trouble));
            ok = true;
            break;
          } catch (e) {
            last = e as Error;
          }
        }
        if (!ok) throw last ?? new Error(`cannot listen on '${text}'`);
      }
      if (b.listeners.length === 0) throw new Error('no address to listen on');
    } catch (e) {
      b.close();
      throw e;
    }
    b.address = b.listeners
      .filter((l) => !(l.address.params.path ?? '').startsWith('(fd'))
      .map((l) => formatBusAddress({ transport: l.address.transport, params: { ...l.address.params, guid: b.guid } } as BusAddress))
      .join(';');
    return b;
  }

  /** Stops listening and drops every connection. */
  close(): void {
    for (const l of this.listeners) l.close();
    this.listeners = [];
    this.replies.close();
    for (const c of [...this.connections]) this.disconnect(c);
    this.incomplete.close();
  }

  log(line: string): void {
    this.settings.log(line);
  }

  // ---- connections ------------------------------------------------------

  private accept(c: AcceptedConnection): void {
    const s = this.settings;
    const allow = s.allowUids;
    const allowUid = (uid: number): boolean => (allow === 'any' ? true : typeof allow === 'function' ? allow(uid) : allow.includes(uid));
    const offered = ['EXTERNAL', 'DBUS_COOKIE_SHA1', 'ANONYMOUS'].filter((m) => (s.authMechanisms ?? ['EXTERNAL', 'ANONYMOUS', 'DBUS_COOKIE_SHA1']).includes(m));
    // Cookies prove a uid where the socket cannot (tcp); the keyring is this process's user's.
    const ownUid = process.getuid?.() ?? 0;
    c.stream.maxMessageBytes = s.limits.maxMessageBytes;
    this.incomplete.add(c.stream, () => (c.credentials ? `a connection (pid ${c.credentials.pid}, uid ${c.credentials.uid})` : `a ${c.stream.kind} connection`));
    authenticateServer(c.stream, {
      guid: this.guid,
      peerUid: c.credentials?.uid,
      allowUid,
      allowAnonymous: s.allowAnonymous,
      unixFdCapable: c.stream.fdCapable,
      mechanisms: offered.filter((m) => (m === 'EXTERNAL' ? c.credentials !== undefined : m === 'DBUS_COOKIE_SHA1' ? c.credentials === undefined : s.allowAnonymous)),
      cookie: () => currentCookie(),
      uidOfUser: (name) => (name === os.userInfo().username ? ownUid : undefined),
    }, s.limits.authTimeoutMs).then(
      (auth) => this.register(c, auth.uid, auth.unixFd),
      () => {
        this.incomplete.remove(c.stream);
        if (c.credentials?.pidfd !== undefined) native.fdClose(c.credentials.pidfd);
      },
    );
  }

  private register(c: AcceptedConnection, uid: number | undefined, unixFd: boolean): void {
    const pidfd = c.credentials?.pidfd;
    if (c.stream.closed) {
      this.incomplete.remove(c.stream);
      if (pidfd !== undefined) native.fdClose(pidfd);
      return;
    }
    const conn = new Connection(this.nextId++, c.stream, c.credentials, uid, unixFd, this.accounts.open(uid));
    this.connections.add(conn);
    c.stream.onMessage = (frame) => this.receive(conn, frame);
    c.stream.onClose = (error) => this.disconnect(conn, error);
    // An empty queue: whoever paid for what waited in it is paid back.
    c.stream.onDrain = () => {
      if (conn.charges?.pending) conn.charges.creditAll();
    };
    // Frames are views of the receive buffer: each is decoded and stamped before the next read.
    c.stream.borrowFrames = true;
    // Users are read in turns: all of a user's connections share one budget per loop turn.
    c.stream.readGroup = conn.account.readGroup;
    c.stream.resume();
  }

  /** Drops a connection later in this tick (safe during a fan-out). */
  drop(conn: Connection, reason: string): void {
    if (conn.dying !== undefined || conn.closed) return;
    conn.dying = reason;
    queueMicrotask(() => this.disconnect(conn, new Error(reason)));
  }

  /** Removes a connection now: names pass on, waiting callers get NoReply, everyone hears NameOwnerChanged. */
  disconnect(conn: Connection, error?: Error): void {
    if (conn.closed) return;
    conn.closed = true;
    // Its direct peers hear first, so that they read its channel before any news of its leaving.
    this.direct.disconnected(conn);
    if (error) this.log(`dropped ${conn.describe()}: ${error instanceof ProtocolError ? `${error.code}: ` : ''}${error.message}`);
    conn.stream.close();
    this.incomplete.remove(conn.stream);
    if (!this.connections.delete(conn)) return;
    // What waited in its queue is dropped: its payers are paid back.
    const payers = conn.charges?.payers();
    conn.charges?.creditAll();
    if (conn.uniqueName !== undefined) conn.account.connections--;
    // The pidfd may still be queued in a GetConnectionCredentials reply: it closes after that send.
    conn.releaseProcessFd();
    this.monitors.delete(conn);
    this.fanOut.removeAllMatches(conn);
    const unique = conn.uniqueName;
    if (unique === undefined) {
      this.closeAccount(conn, payers);
      return;
    }
    this.uniques.delete(unique);
    for (const change of this.names.removeOwner(conn)) this.announce(change, false);
    this.replies.disconnected(conn);
    if (conn.monitorRules === undefined) this.router.signal('NameOwnerChanged', 'sss', [unique, unique, '']);
    this.closeAccount(conn, payers);
  }

  /** A closed connection lets go of its user's account, and accounts it paid for in its queue may now be empty. */
  private closeAccount(conn: Connection, payers: readonly UserAccount[] | undefined): void {
    this.accounts.close(conn.account);
    if (payers) for (const a of payers) this.accounts.forgetIfEmpty(a);
  }

  /**
   * Why a connection may not complete Hello (max_completed_connections,
   * max_connections_per_user; like dbus-daemon, counted among connections that
   * said Hello), or undefined when it may.
   */
  private helloRefusal(conn: Connection): string | undefined {
    const limits = this.settings.limits;
    if (this.uniques.size + this.monitors.size >= limits.maxConnections) return 'The maximum number of active connections has been reached';
    if (conn.uid !== undefined && conn.account.connections >= limits.maxConnectionsPerUser) {
      return `The maximum number of active connections for UID ${conn.uid} has been reached (max_connections_per_user=${limits.maxConnectionsPerUser})`;
    }
    return undefined;
  }

  /** Registers the unique name (Hello). */
  hello(conn: Connection): string {
    this.incomplete.remove(conn.stream);
    conn.account.connections++;
    const name = `:1.${this.nextUnique++}`;
    conn.uniqueName = name;
    this.uniques.set(name, conn);
    return name;
  }

  /** Announces an owner change: NameLost to the old owner, NameOwnerChanged to all, NameAcquired to the new one. */
  announce(change: OwnerChange<Connection>, notifyOld = true): void {
    const { name, from, to } = change;
    const router = this.router;
    this.direct.ownerChanged(name, from, to);
    this.broadcasts.ownerChanged(from, to);
    if (from && notifyOld) router.signal('NameLost', 's', [name], from);
    router.signal('NameOwnerChanged', 'sss', [name, from?.uniqueName ?? '', to?.uniqueName ?? '']);
    if (to) {
      router.signal('NameAcquired', 's', [name], to);
      this.settings.onNameAcquired?.(name);
      this.activationQueue.acquired(name, to);
    }
  }

  /** Resolves a bus name to its connection (unique names and primary owners). */
  lookup(name: string): Connection | undefined {
    return name.startsWith(':') ? this.uniques.get(name) : this.names.ownerOf(name);
  }

  // ---- receiving ----------------------------------------------------------

  private receive(conn: Connection, frame: Uint8Array): void {
    if (conn.closed || conn.dying !== undefined) return;
    let msg: DecodedMessage;
    let fds: number[] | undefined;
    try {
      // Checked as strictly as a decode, but the body's values are built only when
      // the driver or a match rule's argN needs them (bodies are forwarded as bytes).
      msg = checkMessage(frame) as DecodedMessage;
      if (msg.unixFds) fds = conn.stream.takeFds(msg.unixFds);
    } catch (e) {
      this.disconnect(conn, e as Error);
      return;
    }
    conn.messagesIn++;
    conn.bytesIn += frame.length;
    const shared = fds !== undefined && fds.length > 0 ? new SharedFds(fds) : undefined;
    const r: Routed = { msg, bytes: undefined, frame, fds: shared, from: conn };
    // A reply's routing is the caller's doing (see below): timed, to charge the caller's user.
    const isReply = msg.type === MessageType.METHOD_RETURN || msg.type === MessageType.ERROR;
    const t0 = isReply ? performance.now() : 0;
    try {
      this.dispatch(conn, r);
    } catch (e) {
      this.disconnect(conn, e instanceof Error ? e : new Error(String(e)));
    } finally {
      shared?.release();
      r.bodyDone?.();
    }
    // Read in turns, a service answering another user's calls spends that user's time, not its own
    // user's: a flood of calls must not slow down the service's other callers (docs/broker.md).
    if (isReply && r.payer !== undefined && r.payer !== conn.account) conn.account.readGroup.transfer(r.payer.readGroup, performance.now() - t0);
  }

  private dispatch(conn: Connection, r: Routed): void {
    const msg = r.msg;
    if (!conn.helloDone) {
      if (msg.type !== MessageType.METHOD_CALL || msg.member !== 'Hello' || msg.destination !== DRIVER_NAME
        || (msg.interface !== undefined && msg.interface !== DRIVER_INTERFACE)) {
        throw new ProtocolError('NO_HELLO', `the first message was ${msg.member ?? 'a reply'} to ${msg.destination ?? 'nobody'}, not Hello to ${DRIVER_NAME}`);
      }
      // The name exists before monitors see the Hello, as they see its sender.
      if (conn.uniqueName === undefined) {
        const refusal = this.helloRefusal(conn);
        if (refusal !== undefined) {
          // As dbus-daemon: the Hello fails and the connection may only try Hello again.
          this.log(`refused Hello from ${conn.describe()}: ${refusal}`);
          this.router.replyError(conn, msg, BusErrors.LimitsExceeded, refusal);
          return;
        }
        this.hello(conn);
      }
    }
    if (conn.monitorRules !== undefined) throw new ProtocolError('MONITOR_SENT', 'a monitor sent a message');
    if (msg.path === '/org/freedesktop/DBus/Local' || msg.interface === 'org.freedesktop.DBus.Local') {
      throw new ProtocolError('RESERVED_LOCAL', 'message uses the reserved org.freedesktop.DBus.Local path or interface');
    }
    if (msg.type < 1 || msg.type > 4) return; // unknown types are ignored
    const dest = msg.destination;
    if (dest === undefined && msg.type === MessageType.METHOD_CALL) {
      answerUndirected(this, conn, msg);
      return;
    }
    if (dest === DRIVER_NAME) {
      if (msg.interface === DIRECT_INTERFACE && msg.type === MessageType.METHOD_CALL && conn.helloDone) {
        bodyOf(r);
        this.direct.call(conn, msg);
        return;
      }
      this.monitors.copy(r);
      this.fanOut.toEavesdroppers(r, undefined);
      if (msg.type === MessageType.METHOD_CALL || msg.type === MessageType.SIGNAL) {
        if (conn.helloDone && !this.router.driverCallAllowed(conn, r)) return;
        bodyOf(r);
        if (msg.type === MessageType.METHOD_CALL) this.driver.call(conn, msg);
        else this.driver.signal(conn, msg);
      }
      return;
    }
    if (dest === undefined) {
      this.monitors.copy(r);
      this.fanOut.broadcast(r);
      return;
    }
    const target = this.lookup(dest);
    this.monitors.copy(r, target);
    if (!target || target.dying !== undefined) {
      if (msg.type === MessageType.METHOD_CALL && !(msg.flags & MessageFlags.NO_AUTO_START) && this.settings.activate
        && !dest.startsWith(':') && this.settings.activatable?.(dest) === true) {
        // As dbus-daemon: a call the policy would refuse starts nothing.
        if (this.router.activationAllowed(conn, r, dest)) this.activationQueue.add(dest, r);
        return;
      }
      // As dbus-daemon, whatever the message (a signal, a reply, a call that wants none).
      this.router.replyError(conn, msg, BusErrors.ServiceUnknown, `The name ${dest} was not provided by any .service files`);
      return;
    }
    this.router.routeUnicast(r, target);
  }

  policyAllowsOwn(conn: Connection, name: string): boolean {
    return this.settings.canOwn?.(conn.uid, name) ?? true;
  }
}
