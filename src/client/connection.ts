// A client connection to a D-Bus bus (or a peer): serials, pending calls with
// timeouts and AbortSignal, signal subscriptions over reference-counted match
// rules, exported objects, name ownership. Every outgoing message of one tick
// leaves in one system call (the transport batches); incoming frames are
// decoded once and dispatched by type. A peer's protocol fault closes the
// connection and rejects every pending call with DisconnectedError.
import { EventEmitter } from 'node:events';
import diagnostics from 'node:diagnostics_channel';
import { ProtocolError } from '../errors.js';
import { connectBus, type MessageStream } from '../transport/index.js';
import { decodeMessage, encodeMessage, MessageFlags, MessageType, type Message } from '../wire/index.js';
import { AbortError, DBusError, DisconnectedError, ErrorNames, TimeoutError } from './errors.js';
import type { InterfaceDefinition, InterfaceSpec, Implementation } from './define-interface.js';
import { ObjectTable, type ExportedInterface } from './object-table.js';
import { BoundedIterator } from './signal-iterator.js';
import { formatSignalRule, matchable, signalMatches, signalRule, type SignalFilter } from './signal-filter.js';
import type { MatchableMessage, MatchRule } from '../match/index.js';
import { ProxyObject } from './proxy.js';
import { parseIntrospection, type NodeInfo } from './introspection.js';
import { DirectPeers, DIRECT_INTERFACE } from './direct-peers.js';
import type { DirectPeer } from './direct-peer.js';

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

/** RequestName flags. */
export const NameFlags = { ALLOW_REPLACEMENT: 1, REPLACE_EXISTING: 2, DO_NOT_QUEUE: 4 } as const;
/** RequestName replies. */
export const RequestNameReply = { PRIMARY_OWNER: 1, IN_QUEUE: 2, EXISTS: 3, ALREADY_OWNER: 4 } as const;
/** ReleaseName replies. */
export const ReleaseNameReply = { RELEASED: 1, NON_EXISTENT: 2, NOT_OWNER: 3 } as const;

export interface ConnectionOptions {
  /** Default timeout of calls (25000 ms, as libdbus). */
  timeoutMs?: number;
  /** Timeout of connecting, authenticating and Hello (default 25000 ms). */
  connectTimeoutMs?: number;
  /** Ask for unix fd passing (default: on unix sockets). */
  negotiateUnixFd?: boolean;
  /** Dicts with string keys decode as plain objects instead of Maps (default true). */
  dictAsObject?: boolean;
  /** Skip Hello: for a peer-to-peer connection (no bus). */
  peer?: boolean;
  /**
   * The direct path (docs/direct.md): 'auto' lets a fastbus bus grant this
   * connection channels to other fastbus peers; 'off' (the default for now) keeps all traffic on the bus.
   */
  direct?: 'auto' | 'off';
  /** Direct channels poll instead of sleeping (one core per channel end; lowest latency). */
  directBusy?: boolean;
}

/** A peer this connection talks to over a direct channel, with what travelled it. */
export interface DirectPeerInfo {
  uniqueName: string;
  uid: number;
  pid: number;
  /** Whether our traffic to it uses the channel now (else: granted, not yet switched). */
  switched: boolean;
  /** Whether its traffic to us uses the channel now. */
  peerSwitched: boolean;
  sent: number;
  received: number;
}

/** A message to send: serial is assigned; flags default to 0. */
export type OutgoingMessage = Omit<Message, 'serial' | 'flags' | 'body'> & { flags?: number; body?: unknown[] };

export interface CallOptions {
  /** Timeout in ms; default the connection's `timeoutMs`. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Unix fds to pass; `h` values index into them. */
  fds?: number[];
}

/** A method call in the form `call()` takes. */
export interface MethodCall {
  destination?: string;
  path: string;
  interface?: string;
  member: string;
  signature?: string;
  body?: unknown[];
  flags?: number;
}

/** @internal What a call resolves with: the reply message, nothing, its first body value, or its body. */
export const enum ReplyPick { MESSAGE, NOTHING, FIRST, BODY }

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

interface Subscription {
  filter: MatchRule;
  rule: string;
  handler: (msg: Message) => void;
}

interface RuleEntry {
  count: number;
  /** Resolves once AddMatch was answered; rejects when the bus refused it. */
  installed: Promise<void>;
}

interface OwnerEntry {
  owner: string | undefined;
  refs: number;
  ready: Promise<void>;
  unsubscribe: (() => void) | undefined;
}

/** A handle on a signal subscription. */
export interface SignalSubscription {
  /** The match rule the bus holds for it. */
  readonly rule: string;
  /** Stops delivery; the last subscriber of a rule sends RemoveMatch. Idempotent. */
  close(): Promise<void>;
}

/** A bounded async iterator of signals; `dropped` counts what a full queue lost. */
export type SignalIterator = BoundedIterator<Message>;

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
  private readonly subscriptions = new Map<string, Set<Subscription>>();
  private readonly wildcardSubscriptions = new Set<Subscription>();
  private readonly rules = new Map<string, RuleEntry>();
  private readonly owners = new Map<string, OwnerEntry>();
  private readonly objects: ObjectTable;
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
    const bytes = encodeMessage(msg);
    if (sendChannel.hasSubscribers) sendChannel.publish({ connection: this, message: msg });
    if (this.direct !== undefined) {
      this.lastVia = this.direct.route(msg, bytes, fds);
      if (this.lastVia !== undefined) return serial;
    }
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
    const e = this.rules.get(rule);
    if (e) {
      e.count++;
      return e.installed;
    }
    const installed = this.busCall('AddMatch', 's', [rule]).then(() => undefined);
    const entry: RuleEntry = { count: 1, installed };
    this.rules.set(rule, entry);
    installed.catch(() => {
      if (this.rules.get(rule) === entry) this.rules.delete(rule);
    });
    return installed;
  }

  /** Drops one holder of a match rule; the last one sends RemoveMatch. */
  async removeMatch(rule: string): Promise<void> {
    const e = this.rules.get(rule);
    if (!e) return;
    if (--e.count > 0) return;
    this.rules.delete(rule);
    if (this.isClosed) return;
    await e.installed.catch(() => undefined);
    // A RemoveMatch for a rule re-added meanwhile would remove the new one's copy: the bus counts too, so it is still balanced.
    await this.busCall('RemoveMatch', 's', [rule]).catch((error: unknown) => {
      if (!(error instanceof DisconnectedError)) throw error;
    });
  }

  /** The match rules this connection holds, with their counts (for tests and diagnostics). */
  get matchRules(): ReadonlyMap<string, number> {
    return new Map([...this.rules].map(([r, e]) => [r, e.count]));
  }

  /**
   * Subscribes to signals; resolves once the bus has installed the match rule
   * (and, for a well-known sender, once its owner is known).
   */
  async subscribe(filter: SignalFilter, handler: (message: Message) => void): Promise<SignalSubscription> {
    const parsed = signalRule(filter);
    const rule = formatSignalRule(filter);
    const sub: Subscription = { filter: parsed, rule, handler };
    const sender = filter.sender;
    const followsOwner = sender !== undefined && !sender.startsWith(':') && sender !== DBUS;
    const key = filter.interface !== undefined && filter.member !== undefined ? `${filter.interface}.${filter.member}` : undefined;
    const unregister = (): void => {
      if (key) {
        const set = this.subscriptions.get(key);
        set?.delete(sub);
        if (set?.size === 0) this.subscriptions.delete(key);
      } else this.wildcardSubscriptions.delete(sub);
    };
    // Listening starts before AddMatch is sent: a matching signal may follow
    // the AddMatch reply in the same read, before this function resumes.
    if (key) {
      let set = this.subscriptions.get(key);
      if (!set) this.subscriptions.set(key, (set = new Set()));
      set.add(sub);
    } else this.wildcardSubscriptions.add(sub);
    try {
      if (followsOwner) await this.watchOwner(sender);
    } catch (e) {
      unregister();
      throw e;
    }
    try {
      await this.addMatch(rule);
    } catch (e) {
      unregister();
      if (followsOwner) this.unwatchOwner(sender);
      throw e;
    }
    let closed = false;
    return {
      rule,
      close: async () => {
        if (closed) return;
        closed = true;
        unregister();
        if (followsOwner) this.unwatchOwner(sender);
        await this.removeMatch(rule);
      },
    };
  }

  /**
   * Signals as a bounded async iterator (default capacity 1024; when full the
   * oldest is dropped and `dropped` counts it). Resolves once the match rule is
   * installed. Ends when the connection closes, the AbortSignal fires, or the
   * loop exits (break), which releases the match rule.
   */
  async signals(filter: SignalFilter, options: { capacity?: number; signal?: AbortSignal } = {}): Promise<SignalIterator> {
    let sub: SignalSubscription | undefined;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.iterators.delete(it);
      options.signal?.removeEventListener('abort', onAbort);
      void sub?.close().catch(() => undefined);
    };
    const it = new BoundedIterator<Message>(options.capacity ?? 1024, release);
    const onAbort = (): void => {
      it.end(new AbortError('signal iterator', { cause: options.signal?.reason }));
      release();
    };
    if (options.signal?.aborted) throw new AbortError('signal iterator', { cause: options.signal.reason });
    sub = await this.subscribe(filter, (m) => it.push(m));
    if (released) void sub.close();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    this.iterators.add(it);
    return it;
  }

  private readonly iterators = new Set<SignalIterator>();

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
    return this.direct?.peer(uniqueName)?.out === 'direct';
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
      decode: (bytes) => decodeMessage(bytes, this.decodeOptions) as unknown as Message,
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
        this.dispatchSignal(msg);
        break;
      case MessageType.METHOD_CALL:
        this.objects.dispatch(msg);
        break;
      default:
        break; // unknown types are ignored (specification)
    }
  }

  private dispatchSignal(msg: Message): void {
    if (msg.sender === DBUS && msg.interface === DBUS) {
      if (msg.member === 'NameOwnerChanged') {
        const [name, , newOwner] = msg.body as [string, string, string];
        const e = this.owners.get(name);
        if (e) e.owner = newOwner === '' ? undefined : newOwner;
      } else if (msg.member === 'NameAcquired' && msg.destination === this.uniqueName) {
        this.emit('name-acquired', msg.body[0]);
      } else if (msg.member === 'NameLost' && msg.destination === this.uniqueName) {
        this.emit('name-lost', msg.body[0]);
      }
    }
    const set = this.subscriptions.get(`${msg.interface}.${msg.member}`);
    if (set === undefined && this.wildcardSubscriptions.size === 0) return;
    const m = matchable(msg);
    if (set) for (const sub of set) this.deliver(sub, msg, m);
    for (const sub of this.wildcardSubscriptions) this.deliver(sub, msg, m);
  }

  private readonly ownerOf = (name: string): string | undefined => this.owners.get(name)?.owner;

  private deliver(sub: Subscription, msg: Message, m: MatchableMessage): void {
    if (!signalMatches(sub.filter, m, this.ownerOf)) return;
    try {
      sub.handler(msg);
    } catch (e) {
      // A throwing listener must not break dispatch for the others.
      queueMicrotask(() => {
        throw e;
      });
    }
  }

  private async watchOwner(name: string): Promise<void> {
    const e = this.owners.get(name);
    if (e) {
      e.refs++;
      return e.ready;
    }
    const entry: OwnerEntry = { owner: undefined, refs: 1, ready: Promise.resolve(), unsubscribe: undefined };
    this.owners.set(name, entry);
    const rule = formatSignalRule({ sender: DBUS, interface: DBUS, member: 'NameOwnerChanged', args: { 0: name } });
    entry.ready = (async () => {
      await this.addMatch(rule);
      entry.unsubscribe = () => void this.removeMatch(rule).catch(() => undefined);
      // Asked after the rule is in place, so that no change is missed in between.
      const owner = await this.getNameOwner(name);
      if (entry.owner === undefined) entry.owner = owner;
    })();
    entry.ready.catch(() => {
      if (this.owners.get(name) === entry) this.owners.delete(name);
    });
    return entry.ready;
  }

  private unwatchOwner(name: string): void {
    const e = this.owners.get(name);
    if (!e || --e.refs > 0) return;
    this.owners.delete(name);
    e.unsubscribe?.();
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
    for (const it of this.iterators) it.end(error ? new DisconnectedError(why, { cause: error }) : undefined);
    this.iterators.clear();
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
    if (options.direct === 'auto' && unixFd) await connection.enableDirect(options.directBusy === true);
  } catch (e) {
    connection.close();
    throw e;
  }
  return connection;
}
