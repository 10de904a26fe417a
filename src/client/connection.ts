// A client connection to a D-Bus bus (or a peer): serials, pending calls with
// timeouts and AbortSignal, exported objects, name ownership, and the hooks of
// the direct path. Every outgoing message of one tick leaves in one system call
// (the transport batches); incoming frames are decoded once and dispatched by
// type. A peer's protocol fault closes the connection and rejects every pending
// call with DisconnectedError. Signal subscriptions live in
// signal-subscriptions.ts, the option and message shapes in connection-options.ts.
// Kept whole: sending, the pending-call table with its timeout sweep, and
// dispatch of replies share that table on the per-call path (a call is one map
// set and one map delete, with no object between them), and the direct path's
// hooks reach into the same table (calls failed or re-routed per peer).
import { EventEmitter } from 'node:events';
import diagnostics from 'node:diagnostics_channel';
import { ProtocolError } from '../errors.js';
import { connectBus, type MessageStream } from '../transport/index.js';
import { decodeMessage, encodeMessage, encodeMessageParts, joinParts, MessageEncoder, MessageFlags, MessageType, type Message } from '../wire/index.js';
import { AbortError, DBusError, DisconnectedError, ErrorNames, TimeoutError } from './errors.js';
import type { InterfaceDefinition, InterfaceSpec, Implementation } from './define-interface.js';
import { ObjectTable, type ExportedInterface } from './object-table.js';
import type { SignalFilter } from './signal-filter.js';
import { SignalSubscriptions, type SignalIterator, type SignalSubscription } from './signal-subscriptions.js';
import { ProxyObject } from './proxy.js';
import { parseIntrospection, type NodeInfo } from './introspection.js';
import { DIRECT_INTERFACE } from '../names/index.js';
import { DirectPeers } from './direct-peers.js';
import type { DirectPeer } from './direct-peer.js';

import {
  NameFlags, ReleaseNameReply, RequestNameReply, ReplyPick,
  type CallOptions, type ConnectionOptions, type DirectPeerInfo, type MethodCall, type OutgoingMessage,
} from './connection-options.js';

export type { SignalIterator, SignalSubscription } from './signal-subscriptions.js';
export { NameFlags, ReleaseNameReply, RequestNameReply, ReplyPick };
export type { CallOptions, ConnectionOptions, DirectPeerInfo, MethodCall, OutgoingMessage };

/** Published when a message is sent: `{ connection, message }`. */
export const sendChannel = diagnostics.channel('fastbus:client:send');
/** Published when a message is received: `{ connection, message }`. */
export const receiveChannel = diagnostics.channel('fastbus:client:receive');
/** Published when a call starts: `{ connection, message }`. */
export const callStartChannel = diagnostics.channel('fastbus:client:call:start');
/** Published when a call ends: `{ connection, message, reply?, error?, durationMs }`. */
export const callEndChannel = diagnostics.channel('fastbus:client:call:end');

const DBUS = 'org.freedesktop.DBus';
/** The options of a call given none (not a fresh object per call). */
const NO_OPTIONS: CallOptions = Object.freeze({});
const DBUS_PATH = '/org/freedesktop/DBus';
/** `ay` values from this size on are copied straight into a direct channel's payload arena, not into the encoded message first. */
const LARGE_VALUE_BYTES = 64 * 1024;
/** Messages for the direct path up to this size are encoded into one reused buffer (see writeDirect). */
const VIEW_MAX_BYTES = 16 * 1024;
const viewEncoder = new MessageEncoder();
/** A message encoded by viewEncoder is being routed (its bytes must stay until routed). */
let viewInUse = false;

interface Pending {
  resolve(value: unknown): void;
  pick: ReplyPick;
  reject(error: Error): void;
  /** Its own timer, for a timeout other than the connection's default. */
  timer: NodeJS.Timeout | undefined;
  /** performance.now() deadline under the default timeout (0: none or own timer). */
  deadline: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  message: Message;
  startMs: number;
  /** The direct peer the call went to on a channel (undefined: through the bus). */
  via: string | undefined;
}

/**
 * A connection to a bus. Make one with `connect()`, `sessionBus()` or
 * `systemBus()`; close it with `close()` (or `await using`).
 */
export class Connection extends EventEmitter {
  /** The unique name the bus gave (empty for a peer connection). */
  uniqueName = '';
  readonly guid: string;
  /** Whether unix fds can be passed on this connection. */
  readonly unixFd: boolean;
  /** Default call timeout in ms. */
  readonly timeoutMs: number;
  /** One timer for every call under the default timeout (they expire in the order they were made). */
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly stream: MessageStream;
  private readonly dictAsObject: boolean;
  private serial = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly objects: ObjectTable;
  private readonly signalSubs: SignalSubscriptions;
  private readonly introspectionCache = new Map<string, Promise<NodeInfo>>();
  private closedError: Error | undefined;
  /** The direct path, once the bus accepted it (connect() with direct: 'auto'). */
  private direct: DirectPeers | undefined;
  /** The direct peer the last send() went to (undefined: the bus). */
  private lastVia: string | undefined;
  /** Messages from the bus waiting while a departed direct peer's channel drains, and how many such waits run. */
  private heldInput: Message[] | undefined;
  private holds = 0;
  private closing = false;
  private isClosed = false;

  /** @internal use connect() */
  constructor(stream: MessageStream, guid: string, unixFd: boolean, options: ConnectionOptions) {
    super();
    this.stream = stream;
    this.guid = guid;
    this.unixFd = unixFd;
    this.timeoutMs = options.timeoutMs ?? 25000;
    this.dictAsObject = options.dictAsObject ?? true;
    this.decodeOptions = { dictAsObject: this.dictAsObject };
    this.objects = new ObjectTable(this);
    this.signalSubs = new SignalSubscriptions({
      busCall: (member, signature, body) => this.busCall(member, signature, body),
      getNameOwner: (name) => this.getNameOwner(name),
      closed: () => this.isClosed,
      rulesChanged: () => this.direct?.rulesChanged(),
    });
    // Each frame is decoded at once and none of its bytes kept (ay values are copied).
    stream.borrowFrames = true;
    stream.onMessage = (frame) => this.receive(frame);
    stream.onClose = (error) => this.streamClosed(error);
    // A handshake leaves the stream paused until its handlers are set.
    stream.resume();
  }

  /** Calls waiting for a reply. */
  get pendingCalls(): number {
    return this.pending.size;
  }

  /** Whether the connection is closed. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Sends a message; returns its serial. Throws EncodeError (a TypeError) for values that do not fit the signature. */
  send(message: OutgoingMessage, fds?: number[]): number {
    if (this.isClosed) throw new DisconnectedError(`cannot send: connection closed${this.closedError ? ` (${this.closedError.message})` : ''}`, { cause: this.closedError });
    const serial = this.nextSerial();
    const msg = message as Message;
    msg.serial = serial;
    if (msg.flags === undefined) msg.flags = 0;
    if (msg.body === undefined) msg.body = [];
    if (fds && fds.length > 0) {
      if (!this.unixFd) throw new DBusError(ErrorNames.NotSupported, 'this connection cannot pass unix fds');
      msg.unixFds = fds.length;
    }
    if (this.direct !== undefined) {
      // Large `ay` values stay out of the encoded bytes: a channel copies them once, into its arena.
      // A small message is a view of one reused buffer, which a channel copies into its ring (a send
      // made while routing one, such as a revocation's marker, encodes into a buffer of its own).
      const nested = viewInUse;
      const parts = nested ? encodeMessageParts(msg, LARGE_VALUE_BYTES) : viewEncoder.encodeParts(msg, LARGE_VALUE_BYTES, VIEW_MAX_BYTES);
      const borrowed = !nested && parts instanceof Uint8Array && parts.length <= VIEW_MAX_BYTES;
      if (sendChannel.hasSubscribers) sendChannel.publish({ connection: this, message: msg });
      viewInUse = !nested;
      try {
        this.lastVia = this.direct.route(msg, parts, fds, borrowed);
      } finally {
        viewInUse = nested;
      }
      if (this.lastVia !== undefined) return serial;
      this.stream.send(parts instanceof Uint8Array ? (borrowed ? Buffer.from(parts) : parts) : joinParts(parts), fds);
      return serial;
    }
    const bytes = encodeMessage(msg);
    if (sendChannel.hasSubscribers) sendChannel.publish({ connection: this, message: msg });
    this.stream.send(bytes, fds);
    return serial;
  }

  /**
   * Sends a method call and resolves with the reply message; rejects with
   * DBusError (error reply), TimeoutError, AbortError or DisconnectedError.
   */
  call(call: MethodCall, options?: CallOptions): Promise<Message> {
    return this.callPicking(call, options, ReplyPick.MESSAGE) as Promise<Message>;
  }

  /**
   * @internal call(), resolving with `pick` of the reply: a proxy or
   * callMethod() gets its values without a promise (and a turn) of its own.
   */
  callPicking(call: MethodCall, options: CallOptions = NO_OPTIONS, pick: ReplyPick): Promise<unknown> {
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(new AbortError(describe(call), { cause: signal.reason }));
    const msg: OutgoingMessage = {
      type: MessageType.METHOD_CALL,
      flags: (call.flags ?? 0) & ~MessageFlags.NO_REPLY_EXPECTED,
      path: call.path,
      member: call.member,
      body: call.body ?? [],
    };
    if (call.destination !== undefined) msg.destination = call.destination;
    if (call.interface !== undefined) msg.interface = call.interface;
    if (call.signature) msg.signature = call.signature;
    let serial: number;
    try {
      serial = this.send(msg, options.fds);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<unknown>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.timeoutMs;
      const p: Pending = { resolve, pick, reject, timer: undefined, deadline: 0, signal, onAbort: undefined, message: msg as Message, startMs: 0, via: this.direct !== undefined ? this.lastVia : undefined };
      if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
        if (timeoutMs === this.timeoutMs) {
          p.deadline = performance.now() + timeoutMs;
          if (this.sweepTimer === undefined) this.sweepTimer = setTimeout(this.sweep, timeoutMs);
          else this.sweepTimer.ref();
        } else {
          p.timer = setTimeout(() => this.settle(serial, undefined, new TimeoutError(describe(call), timeoutMs)), timeoutMs);
        }
      }
      if (signal) {
        p.onAbort = () => this.settle(serial, undefined, new AbortError(describe(call), { cause: signal.reason }));
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
      if (callStartChannel.hasSubscribers || callEndChannel.hasSubscribers) {
        p.startMs = performance.now();
        callStartChannel.publish({ connection: this, message: msg });
      }
      this.pending.set(serial, p);
    });
  }

  /** Times out the default-timeout calls whose deadline passed, then re-arms for the oldest left. */
  private readonly sweep = (): void => {
    this.sweepTimer = undefined;
    const now = performance.now();
    let next = 0;
    for (const [serial, p] of this.pending) {
      if (p.deadline === 0) continue;
      if (p.deadline > now) {
        next = p.deadline;
        break;
      }
      this.settle(serial, undefined, new TimeoutError(describe(p.message), this.timeoutMs));
    }
    if (next !== 0) this.sweepTimer = setTimeout(this.sweep, Math.max(1, Math.ceil(next - now)));
  };

  /** Calls a method and resolves with the reply's body values. */
  callMethod(call: MethodCall, options?: CallOptions): Promise<unknown[]> {
    return this.callPicking(call, options, ReplyPick.BODY) as Promise<unknown[]>;
  }

  /** Sends a signal; returns its serial. */
  emitSignal(path: string, iface: string, member: string, signature = '', body: unknown[] = [], destination?: string): number {
    const msg: OutgoingMessage = { type: MessageType.SIGNAL, path, interface: iface, member, body };
    if (signature) msg.signature = signature;
    if (destination !== undefined) msg.destination = destination;
    return this.send(msg);
  }

  /** Calls a method of the bus driver (org.freedesktop.DBus). */
  async busCall(member: string, signature = '', body: unknown[] = [], options?: CallOptions): Promise<unknown[]> {
    return this.callMethod({ destination: DBUS, path: DBUS_PATH, interface: DBUS, member, signature, body }, options);
  }

  /** Adds a match rule, counted: the bus gets AddMatch only for the first holder. */
  addMatch(rule: string): Promise<void> {
    return this.signalSubs.addMatch(rule);
  }

  /** Drops one holder of a match rule; the last one sends RemoveMatch. */
  removeMatch(rule: string): Promise<void> {
    return this.signalSubs.removeMatch(rule);
  }

  /** The match rules this connection holds, with their counts (for tests and diagnostics). */
  get matchRules(): ReadonlyMap<string, number> {
    return this.signalSubs.matchRules;
  }

  /**
   * Subscribes to signals; resolves once the bus has installed the match rule
   * (and, for a well-known sender, once its owner is known).
   */
  subscribe(filter: SignalFilter, handler: (message: Message) => void): Promise<SignalSubscription> {
    return this.signalSubs.subscribe(filter, handler);
  }

  /**
   * Signals as a bounded async iterator (default capacity 1024; when full the
   * oldest is dropped and `dropped` counts it). Resolves once the match rule is
   * installed. Ends when the connection closes, the AbortSignal fires, or the
   * loop exits (break), which releases the match rule.
   */
  signals(filter: SignalFilter, options: { capacity?: number; signal?: AbortSignal } = {}): Promise<SignalIterator> {
    return this.signalSubs.signals(filter, options);
  }

  /** Asks the bus for a name; resolves with the RequestName reply code. */
  async requestName(name: string, flags = 0): Promise<number> {
    const [code] = await this.busCall('RequestName', 'su', [name, flags]);
    return code as number;
  }

  /** Releases a name; resolves with the ReleaseName reply code. */
  async releaseName(name: string): Promise<number> {
    const [code] = await this.busCall('ReleaseName', 's', [name]);
    return code as number;
  }

  /** The current owner of a name, or undefined when it has none. */
  async getNameOwner(name: string): Promise<string | undefined> {
    try {
      const [owner] = await this.busCall('GetNameOwner', 's', [name]);
      return owner as string;
    } catch (e) {
      if (e instanceof DBusError && e.name === ErrorNames.NameHasNoOwner) return undefined;
      throw e;
    }
  }

  /** Exports an implementation of an interface at `path`; returns a handle to emit signals and unexport. */
  export<S extends InterfaceSpec>(path: string, definition: InterfaceDefinition<S>, implementation: Implementation<S>): ExportedInterface<S> {
    return this.objects.add(path, definition as unknown as InterfaceDefinition, implementation as Record<string, unknown>) as unknown as ExportedInterface<S>;
  }

  /** Makes `path` an org.freedesktop.DBus.ObjectManager for the objects below it. */
  exportObjectManager(path: string): void {
    this.objects.addObjectManager(path);
  }

  /** Introspects an object (cached per destination and path; `fresh` bypasses the cache). */
  introspect(destination: string, path: string, options: CallOptions & { fresh?: boolean } = {}): Promise<NodeInfo> {
    const key = `${destination}\0${path}`;
    const cached = this.introspectionCache.get(key);
    if (cached && !options.fresh) return cached;
    const p = this.callMethod({ destination, path, interface: 'org.freedesktop.DBus.Introspectable', member: 'Introspect' }, options)
      .then(([xml]) => parseIntrospection(xml as string));
    this.introspectionCache.set(key, p);
    p.catch(() => this.introspectionCache.delete(key));
    return p;
  }

  /** A proxy for a remote object, built from its introspection data (cached). */
  async proxy(destination: string, path: string, options?: CallOptions): Promise<ProxyObject> {
    const node = await this.introspect(destination, path, options);
    return new ProxyObject(this, destination, path, node);
  }

  /**
   * Turns this connection into a monitor (org.freedesktop.DBus.Monitoring.BecomeMonitor):
   * from then on every message the bus copies to it (matching `rules`, or all
   * when empty) goes to `handler`, and the connection sends nothing else.
   */
  async becomeMonitor(rules: string[], handler: (message: Message) => void): Promise<void> {
    this.monitorHandler = handler;
    try {
      await this.callMethod({ destination: DBUS, path: DBUS_PATH, interface: 'org.freedesktop.DBus.Monitoring', member: 'BecomeMonitor', signature: 'asu', body: [rules, 0] });
    } catch (e) {
      this.monitorHandler = undefined;
      throw e;
    }
  }

  private monitorHandler: ((message: Message) => void) | undefined;

  /** Stops this connection from keeping the process alive while idle. */
  unref(): this {
    this.stream.unref();
    return this;
  }

  /** Undoes unref(). */
  ref(): this {
    this.stream.ref();
    return this;
  }

  /** Closes the connection: pending calls reject with DisconnectedError, iterators end. */
  close(): void {
    this.closing = true;
    this.direct?.close();
    this.stream.close();
  }

  /**
   * @internal Asks the bus for the direct path (org.fastbus.Direct1.Enable);
   * resolves with whether it agreed (a bus without the extension answers an error: nothing changes).
   */
  async enableDirect(busy: boolean): Promise<boolean> {
    const direct = new DirectPeers(this.directHost(), { busy });
    // Set before asking: the bus's first grant may follow its reply in the same read.
    this.direct = direct;
    try {
      await this.callMethod({ destination: DBUS, path: DBUS_PATH, interface: DIRECT_INTERFACE, member: 'Enable' });
      return true;
    } catch {
      if (this.direct === direct) this.direct = undefined;
      return false;
    }
  }

  /** Whether the bus granted the direct path to this connection. */
  get directEnabled(): boolean {
    return this.direct !== undefined;
  }

  /** The peers this connection has a direct channel with (for diagnostics and tests). */
  directPeers(): DirectPeerInfo[] {
    return (this.direct?.list() ?? []).map((p) => ({
      uniqueName: p.uniqueName, uid: p.uid, pid: p.pid, switched: p.out === 'direct', peerSwitched: p.in === 'open', sent: p.sent, received: p.received,
    }));
  }

  /** Whether traffic to `uniqueName` travels a direct channel now. */
  isDirect(uniqueName: string): boolean {
    const p = this.direct?.peer(uniqueName);
    // A channel the bus revoked is no longer used, even before the next send notices.
    return p?.out === 'direct' && !p.grant.revoked;
  }

  private directHost(): ConstructorParameters<typeof DirectPeers>[0] {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    return {
      get uniqueName() { return self.uniqueName; },
      busSend: (bytes, fds) => this.stream.send(bytes, fds, true),
      tellBus: (member, signature, body) => {
        if (this.isClosed) return;
        this.send({ type: MessageType.METHOD_CALL, flags: MessageFlags.NO_REPLY_EXPECTED, destination: DBUS, path: DBUS_PATH, interface: DIRECT_INTERFACE, member, signature, body });
      },
      decode: (bytes, owned, memo) => decodeMessage(bytes, { dictAsObject: this.dictAsObject, zeroCopy: owned === true, memo }) as unknown as Message,
      dispatchDirect: (msg, peer) => this.dispatch(msg, peer),
      failCallsTo: (peer) => {
        for (const [serial, p] of this.pending) {
          if (p.via === peer) this.settle(serial, undefined, new DBusError(ErrorNames.NoReply, 'Message recipient disconnected from message bus without replying'));
        }
      },
      callRerouted: (serial) => {
        const p = this.pending.get(serial);
        if (p) p.via = undefined;
      },
      holdInput: (hold) => {
        if (hold) {
          this.holds++;
          this.heldInput ??= [];
          return;
        }
        if (--this.holds > 0) return;
        const held = this.heldInput ?? [];
        this.heldInput = undefined;
        // A new hold started while these are handled queues the rest behind it, in order.
        for (const m of held) this.handle(m);
      },
      matchRules: () => this.signalSubs.ruleTexts(),
      redeliver: (msg) => {
        if (!this.direct?.fromBus(msg)) this.dispatch(msg, undefined);
      },
      log: (line) => console.warn(line),
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  /** @internal Decoding options, one object for every message. */
  readonly decodeOptions: { dictAsObject: boolean };

  private nextSerial(): number {
    this.serial = this.serial >= 0xffffffff ? 1 : this.serial + 1;
    return this.serial;
  }

  private settle(serial: number, reply: Message | undefined, error: Error | undefined): void {
    const p = this.pending.get(serial);
    if (!p) return;
    this.pending.delete(serial);
    if (p.timer) clearTimeout(p.timer);
    // An idle connection's sweep timer must not keep the process alive.
    if (this.pending.size === 0 && this.sweepTimer) this.sweepTimer.unref();
    if (p.onAbort) p.signal!.removeEventListener('abort', p.onAbort);
    if (p.startMs !== 0 && callEndChannel.hasSubscribers) {
      callEndChannel.publish({ connection: this, message: p.message, reply, error, durationMs: performance.now() - p.startMs });
    }
    if (error) p.reject(error);
    else {
      const pick = p.pick;
      p.resolve(pick === ReplyPick.MESSAGE ? reply : pick === ReplyPick.FIRST ? reply!.body[0] : pick === ReplyPick.BODY ? reply!.body : undefined);
    }
  }

  private receive(frame: Uint8Array): void {
    let msg: Message;
    try {
      const d = decodeMessage(frame, this.decodeOptions);
      if (d.unixFds) d.fds = this.stream.takeFds(d.unixFds);
      msg = d as unknown as Message;
    } catch (e) {
      this.stream.close(e instanceof ProtocolError ? e : new ProtocolError('BAD_MESSAGE', (e as Error).message));
      return;
    }
    this.handle(msg);
  }

  /** One message from the bus, in order. */
  private handle(msg: Message): void {
    if (this.heldInput !== undefined) {
      this.heldInput.push(msg);
      return;
    }
    if (this.direct !== undefined && this.direct.fromBus(msg)) return;
    this.dispatch(msg, undefined);
  }

  /** Handles a message from the bus, or from the direct peer `from` (whose replies settle only calls it may answer). */
  private dispatch(msg: Message, from: DirectPeer | undefined): void {
    if (receiveChannel.hasSubscribers) receiveChannel.publish({ connection: this, message: msg });
    if (this.monitorHandler !== undefined && !(msg.replySerial !== undefined && msg.type !== MessageType.METHOD_CALL && msg.type !== MessageType.SIGNAL && this.pending.has(msg.replySerial) && msg.destination === this.uniqueName)) {
      this.monitorHandler(msg);
      return;
    }
    if (from !== undefined && (msg.type === MessageType.METHOD_RETURN || msg.type === MessageType.ERROR)) {
      // On a channel nobody checks for us that the reply answers a call made to this peer.
      const p = msg.replySerial === undefined ? undefined : this.pending.get(msg.replySerial);
      if (p === undefined || !(p.via === from.uniqueName || (p.via === undefined && from.answersFor(p.message.destination)))) return;
    }
    switch (msg.type) {
      case MessageType.METHOD_RETURN:
        if (msg.replySerial !== undefined) this.settle(msg.replySerial, msg, undefined);
        break;
      case MessageType.ERROR:
        if (msg.replySerial !== undefined && this.pending.has(msg.replySerial)) {
          const text = typeof msg.body[0] === 'string' ? (msg.body[0] as string) : undefined;
          this.settle(msg.replySerial, undefined, new DBusError(msg.errorName ?? ErrorNames.Failed, text, msg.body));
        }
        break;
      case MessageType.SIGNAL:
        if (msg.sender === DBUS && msg.interface === DBUS && msg.destination === this.uniqueName) {
          if (msg.member === 'NameAcquired') this.emit('name-acquired', msg.body[0]);
          else if (msg.member === 'NameLost') this.emit('name-lost', msg.body[0]);
        }
        this.signalSubs.dispatch(msg);
        break;
      case MessageType.METHOD_CALL:
        this.objects.dispatch(msg);
        break;
      default:
        break; // unknown types are ignored (specification)
    }
  }

  private streamClosed(error: Error | undefined): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closedError = error;
    const why = error ? `connection lost: ${error.message}` : this.closing ? 'connection closed' : 'connection closed by the bus';
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    for (const [serial, p] of this.pending) {
      this.settle(serial, undefined, new DisconnectedError(`${describe(p.message)}: ${why}`, { cause: error }));
    }
    this.signalSubs.endIterators(error, why);
    this.emit('close', error);
  }
}

function describe(m: { destination?: string; path?: string; interface?: string; member?: string }): string {
  return `call ${m.destination ?? '(no destination)'} ${m.path ?? ''} ${m.interface ? `${m.interface}.` : ''}${m.member ?? ''}`;
}

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
