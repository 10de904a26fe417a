// The bus: accepts authenticated connections and routes their messages by
// header (D-Bus specification, "Message Bus Specification"). The sender is
// stamped by re-emitting the header (withSender); bodies are validated, never
// re-encoded. Replies pass only for pending calls; a peer at fault or too slow
// is dropped with one log line, and nobody else is harmed.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { ProtocolError } from '../errors.js';
import { MatchIndex, type MatchableMessage, type MatchRule, matchesRule } from '../match/index.js';
import * as native from '../native/native.js';
import {
  authenticateServer, currentCookie, listenersFromEnvironment, openListener, parseBusAddress, formatBusAddress, largeFrames,
  type AcceptedConnection, type BusAddress, type Listener,
} from '../transport/index.js';
import {
  checkMessage, decodeMessage, encodeMessage, withSender, parseSignature, MessageFlags, MessageType,
  type DecodedMessage, type Message,
} from '../wire/index.js';
import { writeHeader } from '../wire/encode-message.js';
import { encoder } from '../wire/encoder.js';
import type { MessageHeader } from '../wire/index.js';
import { BusError, BusErrors } from './bus-error.js';
import { Connection, type ReplyDeadline } from './connection.js';
import { PendingSerials } from './pending-serials.js';
import { SharedFds } from './shared-fds.js';
import { Driver, DRIVER_NAME, DRIVER_PATH, DRIVER_INTERFACE } from './driver.js';
import { NameRegistry, type OwnerChange } from './name-registry.js';
import type { BusPolicy, PolicyMessage } from './bus-policy.js';

/** Per-connection and per-user limits (dbus-daemon's `<limit>` names in comments). */
export interface BrokerLimits {
  /** max_message_size */
  maxMessageBytes: number;
  /** max_outgoing_bytes: bytes queued towards one connection. */
  maxQueuedBytes: number;
  /** max_outgoing_unix_fds */
  maxQueuedFds: number;
  /** max_match_rules_per_connection */
  maxMatchRules: number;
  /** max_names_per_connection */
  maxNames: number;
  /** max_replies_per_connection */
  maxPendingReplies: number;
  /** max_connections_per_user */
  maxConnectionsPerUser: number;
  /** max_completed_connections */
  maxConnections: number;
  /** auth_timeout */
  authTimeoutMs: number;
  /** reply_timeout: the bus answers NoReply to a call unanswered this long; 0 = never (dbus-daemon's default). */
  replyTimeoutMs: number;
}

export const DEFAULT_LIMITS: BrokerLimits = {
  maxMessageBytes: 128 * 1024 * 1024,
  maxQueuedBytes: 256 * 1024 * 1024,
  maxQueuedFds: 65536,
  maxMatchRules: 50000,
  maxNames: 50000,
  maxPendingReplies: 50000,
  maxConnectionsPerUser: 100000,
  maxConnections: 100000,
  authTimeoutMs: 30000,
  replyTimeoutMs: 0,
};

/** How the bus is set up. */
export interface BrokerSettings {
  /** Listen addresses (`;`-separated alternatives each become a listener). */
  listen: string[];
  /** Use sockets from systemd socket activation (LISTEN_FDS) as well. */
  socketActivation: boolean;
  /** Uids allowed to connect (EXTERNAL); default: the bus owner only. */
  allowUids: number[] | 'any' | ((uid: number) => boolean);
  allowAnonymous: boolean;
  /** SASL mechanisms allowed (`<auth>`); undefined: all we have. */
  authMechanisms: string[] | undefined;
  limits: BrokerLimits;
  /** Where one-line diagnostics go. */
  log: (line: string) => void;
  /** The config's `<type>` (a system bus refuses UpdateActivationEnvironment). */
  busType?: string;
  /** Activation: returns true when it started (or is starting) a service for `name`. */
  activate?: (name: string) => Promise<void>;
  /** Names activation could start. */
  activatableNames?: () => string[];
  /** ReloadConfig. */
  reload?: () => Promise<void>;
  /** Told when a name gets a primary owner (activation waits on it). */
  onNameAcquired?: (name: string) => void;
  /** Policy: may this connection own this name (`<allow own=...>`)? Default: yes. */
  canOwn?: (uid: number | undefined, name: string) => boolean;
  /** Send/receive rules, unless they let every message pass (then undefined: nothing to check). */
  messagePolicy?: () => BusPolicy | undefined;
  /** The same for copies to eavesdroppers (undefined when every copy may pass). */
  eavesdropPolicy?: () => BusPolicy | undefined;
}

const TYPE_NAMES: Record<number, string> = { 1: 'method_call', 2: 'method_return', 3: 'error', 4: 'signal' };
/** What policy rules see as the names of the bus itself. */
const DRIVER_NAMES: readonly string[] = [DRIVER_NAME];

/** The AccessDenied text for a message its sender's send rules refused. */
function sendDeniedText(msg: DecodedMessage, from: Connection): string {
  return `Rejected send message: type="${TYPE_NAMES[msg.type]}", sender="${from.uniqueName}", interface="${msg.interface ?? '(unset)'}", member="${msg.member ?? '(unset)'}", destination="${msg.destination}" (denied by the bus's policy)`;
}

/**
 * What policy rules see of a routed message. Replies count as requested:
 * routing drops unsolicited ones before any check, and the bus replies only to calls.
 */
function policyMessage(r: Routed): PolicyMessage {
  const type = r.msg.type;
  return { ...r.msg, unixFds: r.fds?.fds.length ?? 0, requestedReply: type === MessageType.METHOD_RETURN || type === MessageType.ERROR };
}

/** One message the bus routes, decoded, with the bytes it will forward. */
interface Routed {
  msg: DecodedMessage;
  /** The bytes with SENDER stamped (made on first use): the whole message, or only its header when `body` is set. */
  bytes: Uint8Array | undefined;
  /** A large message's body, sent as it arrived after the re-written header (never copied). */
  body?: Uint8Array;
  /** Holders of `body` (receive() and each queued send); the last one gives the frame back to the pool. */
  bodyRefs?: number;
  bodyDone?: () => void;
  frame: Uint8Array;
  /** The fds that came with it, shared by every copy sent; undefined when none. */
  fds: SharedFds | undefined;
  from: Connection | undefined;
}

/** The body's values, decoded on first use (while the frame is still valid). */
function bodyOf(r: Routed): unknown[] {
  const msg = r.msg as { body?: unknown[] };
  return (msg.body ??= decodeMessage(r.frame, { zeroCopy: true }).body);
}

/** A message header with SENDER set, in the message's byte order, without unknown fields. */
function stampHeader(h: MessageHeader, sender: string): Uint8Array {
  const w = encoder;
  w.reset(h.endian === 'little');
  try {
    writeHeader(w, { ...h, sender }, h.bodyLength, h.unixFds ?? 0, undefined);
  } catch (e) {
    w.reset(true);
    throw e;
  }
  return w.take();
}

/** The message bus. Create with Broker.start(). */
export class Broker {
  readonly guid = randomBytes(16).toString('hex');
  settings: BrokerSettings;
  readonly names = new NameRegistry<Connection>();
  readonly matches = new MatchIndex<Connection>();
  readonly uniques = new Map<string, Connection>();
  readonly connections = new Set<Connection>();
  readonly monitors = new Set<Connection>();
  readonly driver: Driver;
  readonly startedAt = Date.now();
  listeners: Listener[] = [];
  /** The address clients use (all listeners, with guid). */
  address = '';
  private nextId = 1;
  private nextUnique = 1;
  private serial = 0;
  private fanout = 0;
  private eavesdropRules = 0;
  private perUser = new Map<number, number>();
  /** Messages waiting for an activated name, by name. */
  readonly activationQueue = new Map<string, Routed[]>();
  peakMatchRules = 0;
  /** Variables added by UpdateActivationEnvironment. */
  readonly activationEnvironment = new Map<string, string>();
  /**
   * Calls waiting for a reply under reply_timeout, in insertion order, which
   * is deadline order (one timeout for all); each is also in its caller's
   * `replyDeadlines` by serial, where a reply finds and removes it. One timer
   * watches the first.
   */
  private readonly deadlines = new Set<ReplyDeadline>();
  private deadlineTimer: NodeJS.Timeout | undefined;

  private constructor(settings: BrokerSettings) {
    this.settings = settings;
    this.driver = new Driver(this);
  }

  /** Starts listening on every address; resolves once all listen. */
  static async start(settings: BrokerSettings): Promise<Broker> {
    const b = new Broker(settings);
    const onConnection = (c: AcceptedConnection): void => b.accept(c);
    try {
      if (settings.socketActivation) b.listeners.push(...listenersFromEnvironment(onConnection));
      for (const text of settings.listen) {
        // Alternatives of one <listen> are tried in order until one works.
        let last: Error | undefined;
        let ok = false;
        for (const a of parseBusAddress(text)) {
          try {
            b.listeners.push(await openListener(a, onConnection));
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
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    for (const c of [...this.connections]) this.disconnect(c);
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
      () => { if (c.credentials?.pidfd !== undefined) native.fdClose(c.credentials.pidfd); },
    );
  }

  private register(c: AcceptedConnection, uid: number | undefined, unixFd: boolean): void {
    const pidfd = c.credentials?.pidfd;
    if (c.stream.closed) {
      if (pidfd !== undefined) native.fdClose(pidfd);
      return;
    }
    // A hard cap on sockets; max_completed_connections and the per-user limit apply at Hello.
    if (this.connections.size >= this.settings.limits.maxConnections) {
      this.log(`refused a connection from uid ${uid ?? 'anonymous'}: too many connections`);
      c.stream.close();
      if (pidfd !== undefined) native.fdClose(pidfd);
      return;
    }
    const conn = new Connection(this.nextId++, c.stream, c.credentials, uid, unixFd);
    this.connections.add(conn);
    c.stream.onMessage = (frame) => this.receive(conn, frame);
    c.stream.onClose = (error) => this.disconnect(conn, error);
    c.stream.onDrain = undefined;
    // Frames are views of the receive buffer: each is decoded and stamped before the next read.
    c.stream.borrowFrames = true;
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
    if (error) this.log(`dropped ${conn.describe()}: ${error instanceof ProtocolError ? `${error.code}: ` : ''}${error.message}`);
    conn.stream.close();
    if (!this.connections.delete(conn)) return;
    if (conn.uniqueName !== undefined && conn.uid !== undefined) this.perUser.set(conn.uid, (this.perUser.get(conn.uid) ?? 1) - 1);
    // The pidfd may still be queued in a GetConnectionCredentials reply: it closes after that send.
    conn.releaseProcessFd();
    this.monitors.delete(conn);
    this.removeAllMatches(conn);
    for (const callee of conn.callees) callee.awaiting.delete(conn);
    conn.callees.clear();
    const unique = conn.uniqueName;
    if (unique === undefined) return;
    this.uniques.delete(unique);
    for (const change of this.names.removeOwner(conn)) this.announce(change, false);
    for (const [caller, serials] of conn.awaiting) {
      caller.callees.delete(conn);
      caller.pendingCalls -= serials.size;
      for (const serial of serials) {
        this.sendFromBus(caller, {
          type: MessageType.ERROR, flags: MessageFlags.NO_REPLY_EXPECTED, serial: 0, replySerial: serial,
          errorName: BusErrors.NoReply, signature: 's', body: ['Message recipient disconnected from message bus without replying'],
        });
      }
    }
    conn.awaiting.clear();
    if (conn.monitorRules === undefined) this.signal('NameOwnerChanged', 'sss', [unique, unique, '']);
  }

  removeAllMatches(conn: Connection): void {
    for (const e of this.matches.rulesOf(conn)) if (e.rule.eavesdrop) this.eavesdropRules -= e.count;
    this.matches.removeOwner(conn);
  }

  addMatch(conn: Connection, rule: MatchRule, text: string): void {
    if (this.matches.countOf(conn) >= this.settings.limits.maxMatchRules) {
      throw new BusError(BusErrors.LimitsExceeded, `Connection "${conn.uniqueName}" is not allowed to add more match rules (increase limits in configuration file if required; max_match_rules_per_connection=${this.settings.limits.maxMatchRules})`);
    }
    this.matches.add(conn, rule, text);
    if (rule.eavesdrop) this.eavesdropRules++;
    if (this.matches.size > this.peakMatchRules) this.peakMatchRules = this.matches.size;
  }

  removeMatch(conn: Connection, rule: MatchRule, text: string): boolean {
    const ok = this.matches.remove(conn, text);
    if (ok && rule.eavesdrop) this.eavesdropRules--;
    return ok;
  }

  /**
   * Why a connection may not complete Hello (max_completed_connections,
   * max_connections_per_user; like dbus-daemon, counted among connections that
   * said Hello), or undefined when it may.
   */
  private helloRefusal(conn: Connection): string | undefined {
    const limits = this.settings.limits;
    if (this.uniques.size + this.monitors.size >= limits.maxConnections) return 'The maximum number of active connections has been reached';
    if (conn.uid !== undefined && (this.perUser.get(conn.uid) ?? 0) >= limits.maxConnectionsPerUser) {
      return `The maximum number of active connections for UID ${conn.uid} has been reached (max_connections_per_user=${limits.maxConnectionsPerUser})`;
    }
    return undefined;
  }

  /** Registers the unique name (Hello). */
  hello(conn: Connection): string {
    if (conn.uid !== undefined) this.perUser.set(conn.uid, (this.perUser.get(conn.uid) ?? 0) + 1);
    const name = `:1.${this.nextUnique++}`;
    conn.uniqueName = name;
    this.uniques.set(name, conn);
    return name;
  }

  /** Announces an owner change: NameLost to the old owner, NameOwnerChanged to all, NameAcquired to the new one. */
  announce(change: OwnerChange<Connection>, notifyOld = true): void {
    const { name, from, to } = change;
    if (from && notifyOld) this.signal('NameLost', 's', [name], from);
    this.signal('NameOwnerChanged', 'sss', [name, from?.uniqueName ?? '', to?.uniqueName ?? '']);
    if (to) {
      this.signal('NameAcquired', 's', [name], to);
      this.settings.onNameAcquired?.(name);
      const queued = this.activationQueue.get(name);
      if (queued) {
        this.activationQueue.delete(name);
        for (const r of queued) {
          if (r.from && !r.from.closed) this.routeUnicast(r, to);
          r.fds?.release();
        }
      }
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
    try {
      this.dispatch(conn, r);
    } catch (e) {
      this.disconnect(conn, e instanceof Error ? e : new Error(String(e)));
    } finally {
      shared?.release();
      r.bodyDone?.();
    }
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
          this.replyError(conn, msg, BusErrors.LimitsExceeded, refusal);
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
    if (dest === DRIVER_NAME) {
      this.toMonitors(r);
      this.toEavesdroppers(r, undefined);
      if (msg.type === MessageType.METHOD_CALL) {
        if (conn.helloDone && !this.driverCallAllowed(conn, r)) return;
        bodyOf(r);
        this.driver.call(conn, msg);
      }
      return;
    }
    if (dest === undefined) {
      this.toMonitors(r);
      this.broadcast(r);
      return;
    }
    const target = this.lookup(dest);
    this.toMonitors(r);
    if (!target || target.dying !== undefined) {
      if (msg.type === MessageType.METHOD_CALL) {
        const activatable = !dest.startsWith(':') && this.settings.activatableNames?.().includes(dest);
        if (activatable && !(msg.flags & MessageFlags.NO_AUTO_START) && this.settings.activate) {
          this.queueForActivation(dest, r);
          return;
        }
        this.replyError(conn, msg, BusErrors.ServiceUnknown, `The name ${dest} was not provided by any .service files`);
      }
      return;
    }
    this.routeUnicast(r, target);
  }

  private queueForActivation(name: string, r: Routed): void {
    let q = this.activationQueue.get(name);
    const first = !q;
    if (!q) this.activationQueue.set(name, (q = []));
    // The frame is borrowed: keep a stamped copy and its own decoding.
    const head = this.stamped(r);
    const bytes = r.body ? Buffer.concat([head, r.body]) : head;
    r.bytes = bytes;
    r.body = undefined;
    r.frame = bytes;
    r.msg = decodeMessage(bytes, { zeroCopy: true });
    r.fds?.retain();
    q.push(r);
    if (!first) return;
    this.settings.activate!(name).catch((e: unknown) => {
      const queued = this.activationQueue.get(name) ?? [];
      this.activationQueue.delete(name);
      const err = e instanceof BusError ? e : new BusError(BusErrors.SpawnFailed, String(e));
      for (const m of queued) {
        m.fds?.release();
        if (m.from && !m.from.closed) this.replyError(m.from, m.msg, err.errorName, err.message);
      }
    });
  }

  /**
   * Stamps SENDER (once per message). A message too large to be a borrowed
   * view owns its bytes: only its header is re-written and its body is sent
   * as it came, so large bodies are never copied.
   */
  private stamped(r: Routed): Uint8Array {
    if (r.bytes === undefined) {
      if (!r.from) r.bytes = r.frame;
      else if (r.frame.length > r.from.stream.ownedFrameBytes) {
        r.bytes = stampHeader(r.msg, r.from.uniqueName!);
        const frame = r.frame;
        r.body = frame.subarray(r.msg.headerLength, r.msg.totalLength);
        // The frame is this message's own buffer: once every send of its body is
        // written, nothing references it and the next large message may reuse it.
        r.bodyRefs = 1;
        r.bodyDone = () => {
          if (--r.bodyRefs! === 0) largeFrames.release(frame);
        };
      } else r.bytes = withSender(r.frame, r.from.uniqueName!, r.msg, { dropUnknownFields: true });
    }
    return r.bytes;
  }

  private routeUnicast(r: Routed, target: Connection): void {
    const msg = r.msg;
    const from = r.from!;
    if (msg.type === MessageType.METHOD_RETURN || msg.type === MessageType.ERROR) {
      const serials = from.awaiting.get(target);
      if (!serials || !serials.delete(msg.replySerial!)) return; // an unsolicited reply is dropped
      // The pair's entry stays (empty) while both live: the next call reuses it.
      target.pendingCalls--;
      if (this.deadlines.size > 0) {
        const d = target.replyDeadlines?.get(msg.replySerial!);
        if (d !== undefined) {
          target.replyDeadlines!.delete(msg.replySerial!);
          this.deadlines.delete(d);
        }
      }
    }
    const policy = this.settings.messagePolicy?.();
    if (policy && !this.policyAllows(policy, policyMessage(r), from, target)) {
      this.replyError(from, msg, BusErrors.AccessDenied, sendDeniedText(msg, from));
      return;
    }
    if (r.fds && !target.unixFd) {
      this.replyError(from, msg, BusErrors.NotSupported, "Tried to send message with Unix file descriptors to a client that doesn't support that.");
      return;
    }
    const bytes = this.stamped(r);
    const isCall = msg.type === MessageType.METHOD_CALL;
    const limits = this.settings.limits;
    if (isCall) {
      // As dbus-daemon: fds count against max_outgoing_unix_fds once more than it wait (any message is then refused).
      if (target.stream.queuedBytes + bytes.length + (r.body?.length ?? 0) > limits.maxQueuedBytes || target.stream.queuedFds > limits.maxQueuedFds) {
        this.replyError(from, msg, BusErrors.LimitsExceeded, `The destination ${target.uniqueName} has a full message queue`);
        return;
      }
      if (!(msg.flags & MessageFlags.NO_REPLY_EXPECTED)) {
        if (from.pendingCalls >= limits.maxPendingReplies) {
          this.replyError(from, msg, BusErrors.LimitsExceeded, `The maximum number of pending replies for "${from.uniqueName}" (${limits.maxPendingReplies}) has been reached`);
          return;
        }
        let serials = target.awaiting.get(from);
        if (!serials) {
          target.awaiting.set(from, (serials = new PendingSerials()));
          from.callees.add(target);
        }
        serials.add(msg.serial);
        from.pendingCalls++;
        if (limits.replyTimeoutMs > 0) this.addDeadline(from, target, msg.serial, limits.replyTimeoutMs);
      }
    }
    this.deliver(target, bytes, r.fds, r, isCall);
    if (this.eavesdropRules > 0) this.toEavesdroppers(r, target);
  }

  /** Remembers when the bus gives up on a call; one timer serves every pending call. */
  private addDeadline(caller: Connection, callee: Connection, serial: number, timeoutMs: number): void {
    const byCaller = (caller.replyDeadlines ??= new Map());
    // A serial used again (a client's bug) restarts its wait at the end, keeping the order.
    const old = byCaller.get(serial);
    if (old !== undefined) this.deadlines.delete(old);
    const d: ReplyDeadline = { caller, callee, serial, atMs: Date.now() + timeoutMs };
    byCaller.set(serial, d);
    this.deadlines.add(d);
    if (this.deadlineTimer === undefined) this.armDeadlineTimer();
  }

  private armDeadlineTimer(): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    for (const first of this.deadlines.values()) {
      this.deadlineTimer = setTimeout(() => this.expireCalls(), Math.max(0, first.atMs - Date.now()));
      this.deadlineTimer.unref();
      break;
    }
  }

  /**
   * Answers NoReply (from the bus) to each call past its deadline that is
   * still pending; its reply, if it comes later, is then unsolicited and dropped.
   * (After a reload shortens reply_timeout, newer calls wait behind older ones at most once.)
   */
  private expireCalls(): void {
    this.deadlineTimer = undefined;
    const now = Date.now();
    for (const d of this.deadlines) {
      const { caller, callee, serial, atMs } = d;
      if (atMs > now) break;
      this.deadlines.delete(d);
      caller.replyDeadlines!.delete(serial);
      // The pair's entry stays (empty) while both live, as after a reply.
      if (!callee.awaiting.get(caller)?.delete(serial)) continue;
      caller.pendingCalls--;
      this.sendFromBus(caller, {
        type: MessageType.ERROR, flags: MessageFlags.NO_REPLY_EXPECTED, serial: 0, replySerial: serial,
        errorName: BusErrors.NoReply, signature: 's', body: ['Message did not receive a reply (timeout by message bus)'],
      });
    }
    this.armDeadlineTimer();
  }

  /**
   * Queues bytes (and shared fds) to a connection. A message that cannot be
   * queued (limits) drops the receiver; `queueChecked`: the caller already
   * checked those limits (a call, refused to its caller instead).
   */
  private deliver(target: Connection, bytes: Uint8Array, fds: SharedFds | undefined, r?: Routed, queueChecked = false): void {
    const s = target.stream;
    const body = r?.body;
    if (!queueChecked) {
      const limits = this.settings.limits;
      if (s.queuedBytes + bytes.length + (body?.length ?? 0) > limits.maxQueuedBytes || s.queuedFds > limits.maxQueuedFds) {
        this.drop(target, `too slow: ${s.queuedBytes} bytes queued (max_outgoing_bytes ${limits.maxQueuedBytes}), ${s.queuedFds} fds (max_outgoing_unix_fds ${limits.maxQueuedFds})`);
        return;
      }
    }
    target.messagesOut++;
    if (fds === undefined) s.send(bytes);
    else {
      s.send(bytes, fds.fds, fds.retain());
      if (s.queuedFds > target.peakQueuedFds) target.peakQueuedFds = s.queuedFds;
    }
    // Two sends in a row stay together: the queue is FIFO and nothing runs between them.
    if (body) {
      r!.bodyRefs!++;
      s.send(body, undefined, false, r!.bodyDone);
    }
    if (s.queuedBytes > target.peakQueuedBytes) target.peakQueuedBytes = s.queuedBytes;
  }

  /** What match rules see of a routed message. */
  private matchable(r: Routed): MatchableMessage {
    const msg = r.msg;
    let types: readonly { code: string }[] | undefined;
    return {
      type: msg.type,
      sender: r.from ? r.from.uniqueName : DRIVER_NAME,
      interface: msg.interface,
      member: msg.member,
      path: msg.path,
      destination: msg.destination,
      arg(i) {
        types ??= msg.signature ? parseSignature(msg.signature) : [];
        const t = types[i];
        if (!t || (t.code !== 's' && t.code !== 'o')) return undefined;
        return { value: bodyOf(r)[i] as string, isPath: t.code === 'o' };
      },
    };
  }

  private ownerCheck = (name: string, unique: string): boolean => {
    if (name === DRIVER_NAME) return unique === DRIVER_NAME;
    return this.names.ownerOf(name)?.uniqueName === unique;
  };

  /** Broadcast: to every connection with a matching rule, once each. */
  private broadcast(r: Routed): void {
    this.fanOut(r, ++this.fanout, this.settings.messagePolicy?.(), false);
  }

  /** Copies of a unicast message to connections eavesdropping on it. */
  private toEavesdroppers(r: Routed, target: Connection | undefined): void {
    if (this.eavesdropRules === 0) return;
    const mark = ++this.fanout;
    if (target) target.mark = mark;
    this.fanOut(r, mark, this.settings.eavesdropPolicy?.(), true);
  }

  /**
   * Delivers `r` once to each owner of a matching rule not yet marked with
   * `mark` (eavesdropping rules only, when `eavesdrop`), under `policy` if any.
   */
  private fanOut(r: Routed, mark: number, policy: BusPolicy | undefined, eavesdrop: boolean): void {
    // What the policy sees of the message is the same for every recipient: made once, on first use.
    let pm: PolicyMessage | undefined;
    this.matches.forEachMatch(this.matchable(r), (e) => {
      const o = e.owner;
      if (o.mark === mark || o.dying !== undefined || o.closed) return;
      o.mark = mark;
      if (r.fds && !o.unixFd) return;
      // Replies reach a fan-out only as eavesdropped copies of requested ones.
      if (policy && !this.policyAllows(policy, (pm ??= policyMessage(r)), r.from, o, eavesdrop)) return;
      this.deliver(o, this.stamped(r), r.fds, r);
    }, this.ownerCheck, eavesdrop ? (e) => e.rule.eavesdrop === true && e.owner.mark !== mark : (e) => e.owner.mark !== mark);
  }

  /** Copies to monitors (they see everything their rules match). */
  private toMonitors(r: Routed): void {
    if (this.monitors.size === 0) return;
    let m: MatchableMessage | undefined;
    for (const mon of this.monitors) {
      if (mon.dying !== undefined) continue;
      const rules = mon.monitorRules!;
      if (rules.length > 0) {
        m ??= this.matchable(r);
        const mm = m;
        if (!rules.some((rule) => matchesRule(rule, mm, this.ownerCheck))) continue;
      }
      if (r.fds && !mon.unixFd) continue;
      this.deliver(mon, this.stamped(r), r.fds, r);
    }
  }

  // ---- messages from the bus itself ----------------------------------------

  /**
   * Sends a message from org.freedesktop.DBus to one connection (and monitors), with `fds` if given (`h` values index them).
   * `m` must be the caller's own new object: its serial, sender, destination and unixFds are filled in place (no copies).
   */
  sendFromBus(target: Connection, m: Message, fds?: SharedFds): void {
    if (target.closed || target.dying !== undefined) return;
    m.unixFds = fds?.fds.length;
    m.serial = ++this.serial;
    m.sender = DRIVER_NAME;
    m.destination = target.uniqueName;
    const bytes = encodeMessage(m);
    const r: Routed = { msg: m as DecodedMessage, bytes, frame: bytes, fds, from: undefined };
    const policy = this.settings.messagePolicy?.();
    if (policy && !this.policyAllows(policy, policyMessage(r), undefined, target)) {
      this.log(`policy refused ${target.describe()} a ${TYPE_NAMES[m.type]} from the bus (${m.interface ?? ''} ${m.member ?? m.errorName ?? ''})`);
      return;
    }
    this.toMonitors(r);
    this.deliver(target, bytes, fds);
    if (this.eavesdropRules > 0) this.toEavesdroppers(r, target);
  }

  /** A driver signal: broadcast when `target` is undefined, else unicast. */
  signal(member: string, signature: string, body: unknown[], target?: Connection): void {
    const m: Message = {
      type: MessageType.SIGNAL, flags: 0, serial: 0, path: DRIVER_PATH, interface: DRIVER_INTERFACE, member, signature, body,
    };
    if (target) {
      this.sendFromBus(target, m);
      return;
    }
    const bytes = encodeMessage({ ...m, serial: ++this.serial, sender: DRIVER_NAME });
    const r: Routed = { msg: { ...m } as DecodedMessage, bytes, frame: bytes, fds: undefined, from: undefined };
    this.toMonitors(r);
    this.broadcast(r);
  }

  /** Answers a method call with an error (unless it expects no reply). */
  replyError(conn: Connection, call: DecodedMessage, errorName: string, text: string): void {
    if (call.type !== MessageType.METHOD_CALL || call.flags & MessageFlags.NO_REPLY_EXPECTED) return;
    this.sendFromBus(conn, {
      type: MessageType.ERROR, flags: MessageFlags.NO_REPLY_EXPECTED, serial: 0, replySerial: call.serial, errorName, signature: 's', body: [text],
    });
  }

  /** Answers a method call with a return (unless it expects no reply), carrying `fds` if given. */
  reply(conn: Connection, call: DecodedMessage, signature: string, body: unknown[], fds?: SharedFds): void {
    if (call.flags & MessageFlags.NO_REPLY_EXPECTED) return;
    this.sendFromBus(conn, {
      type: MessageType.METHOD_RETURN, flags: MessageFlags.NO_REPLY_EXPECTED, serial: 0, replySerial: call.serial, signature: signature || undefined, body,
    }, fds);
  }

  /** Turns a connection into a monitor (BecomeMonitor): it leaves the bus as a peer. */
  becomeMonitor(conn: Connection, rules: MatchRule[]): void {
    const unique = conn.uniqueName!;
    for (const change of this.names.removeOwner(conn)) this.announce(change, true);
    this.removeAllMatches(conn);
    // Like dbus-daemon, the monitor hears it lost its unique name (busctl waits for this).
    this.signal('NameLost', 's', [unique], conn);
    conn.monitorRules = rules;
    this.monitors.add(conn);
    this.signal('NameOwnerChanged', 'sss', [unique, unique, '']);
    this.uniques.delete(unique);
  }

  /**
   * The sender's send rules (towards `to`) and the receive rules of `to` both
   * let the message pass; `eavesdropping` when `to` gets a copy of a message
   * addressed to someone else.
   */
  private policyAllows(policy: BusPolicy, m: PolicyMessage, from: Connection | undefined, to: Connection, eavesdropping = false): boolean {
    // The bus itself has no send rules; its messages pass the receivers' receive rules as from org.freedesktop.DBus.
    if (!from) return policy.checkMessage('receive', to.uid, m, DRIVER_NAMES, eavesdropping);
    return policy.checkMessage('send', from.uid, m, to, eavesdropping, this.policyNamesOf)
      && policy.checkMessage('receive', to.uid, m, from, eavesdropping, this.policyNamesOf);
  }

  /** A connection's names as policy rules see them (made only when a rule names a peer). */
  private readonly policyNamesOf = (c: Connection): string[] => [c.uniqueName!, ...this.names.ownedOrQueuedNamesOf(c)];

  /**
   * The caller's send rules let a call to the driver pass (as in dbus-daemon,
   * e.g. system.conf's denies on the driver); else it gets AccessDenied.
   * Hello is never filtered. Returns whether the driver should handle it.
   */
  private driverCallAllowed(conn: Connection, r: Routed): boolean {
    const policy = this.settings.messagePolicy?.();
    if (!policy) return true;
    if (policy.checkMessage('send', conn.uid, policyMessage(r), DRIVER_NAMES)) return true;
    const msg = r.msg;
    this.replyError(conn, msg, BusErrors.AccessDenied, sendDeniedText(msg, conn));
    return false;
  }

  policyAllowsOwn(conn: Connection, name: string): boolean {
    return this.settings.canOwn?.(conn.uid, name) ?? true;
  }

  /** Counters for Debug.Stats.GetStats. */
  nextSerial(): number {
    return this.serial;
  }
}
