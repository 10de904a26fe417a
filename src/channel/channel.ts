// A channel: two processes exchanging messages over two shared-memory rings
// (one per direction), woken by eventfd doorbells only when the consumer
// sleeps, with a unix socket kept open for hang-up detection, handshake and
// fd handoff. This file is the public surface (send, trySend, whenWritable,
// close, events) and the end's life; the parts are named in docs/channel.md.
// Invariants: order is kept per direction; a full ring waits, never drops;
// every exposed buffer is released at acknowledgement or close.
import { EventEmitter } from 'node:events';
import { ProtocolError, SystemError } from '../errors.js';
import { POLL_DISCONNECT, POLL_READABLE, fdClose, pollClose, pollRef, shmUnmap, sockShutdown } from '../native/native.js';
import { ProcessGoneError, type ExposedBuffer } from '../cma/index.js';
import { ChannelClosedError, type CloseReason } from './channel-closed-error.js';
import { ChannelCore } from './channel-core.js';
import { SocketWatch, type ChannelEnds } from './channel-ends.js';
import { settingsFrom, type ChannelOptions } from './channel-options.js';
import type { ChannelStats } from './channel-stats.js';
import { ControlSocket } from './control-socket.js';
import { KIND_ADVANCED, KIND_BYTES, KIND_JSON } from './frame-kinds.js';
import { outgoingHandles, type SendHandle, type SendHandleOptions } from './handles.js';
import { Inbound } from './inbound.js';
import { LargePayloads } from './large-payloads.js';
import { Outbound } from './outbound.js';
import { PassedHandles } from './passed-handles.js';
import { WaitLoop } from './wait-loop.js';

export { ChannelClosedError, type CloseReason } from './channel-closed-error.js';
export type { ChannelOptions, LargePayloadMode } from './channel-options.js';
export type { ChannelStats } from './channel-stats.js';
export type { SendHandle, SendHandleOptions } from './handles.js';

const ITERATOR_HIGH_WATER = 1024;
const RESOLVED = Promise.resolve();
const NOOP = (): void => {};

function toBytes(view: ArrayBufferView): Uint8Array {
  return view instanceof Uint8Array ? view : new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/**
 * One end of a channel. Events: 'message' (value, handle?), 'close' (reason, error?), 'hangup' (see hangUp).
 * Async-iterable over messages (values only: handles go to 'message' listeners).
 */
export class Channel extends EventEmitter {
  /** The peer's process id. */
  readonly peerPid: number;
  /** Size of the shared segment (both rings and the header). */
  readonly segmentSizeBytes: number;
  readonly stats: ChannelStats;
  /**
   * @internal resolves when the peer's CMA verdict is known (tests); rejects
   * with ChannelClosedError if the channel closes first (a peer that never
   * started), so that nothing waits on it for ever.
   */
  readonly ready: Promise<void>;
  private readonly readyReject: (error: Error) => void;

  private readonly core: ChannelCore;
  private readonly out: Outbound;
  private readonly inb: Inbound;
  private readonly socket: ControlSocket;
  private readonly large: LargePayloads;
  private readonly handles: PassedHandles;
  private readonly loop: WaitLoop;
  private readonly sockWatch: SocketWatch;
  private readonly probeExposure: ExposedBuffer;
  private readonly json: boolean;
  private closeReason: CloseReason = 'closed';
  private closeError: Error | undefined;
  private refed = true;
  /** The socket hung up and is no longer watched (see hangUp). */
  private socketDown = false;
  private readonly closed: Promise<void>;
  private closedResolve!: () => void;

  /** @internal Channels are made by listen/connect/fork/parentChannel. */
  constructor(ends: ChannelEnds, options: ChannelOptions = {}) {
    super();
    const settings = settingsFrom(options, ends.segment.ringBytes);
    const core = this.core = new ChannelCore(ends, settings, this);
    this.peerPid = ends.peerPid;
    this.segmentSizeBytes = ends.segment.sizeBytes;
    this.stats = core.stats;
    this.probeExposure = ends.probeExposure;
    this.json = settings.json;
    this.out = new Outbound(core);
    this.inb = new Inbound(core);
    this.socket = new ControlSocket(core);
    this.large = new LargePayloads({ core, out: this.out, inb: this.inb, socket: this.socket });
    this.out.large = this.large;
    this.inb.large = this.large;
    this.handles = new PassedHandles(core, this.out, this.socket);
    this.out.handles = this.handles;
    this.inb.handles = this.handles;
    this.loop = new WaitLoop(core, this.out, this.inb, { peerGone: () => this.peerGone(), fail: (e) => this.fail(e) });
    this.out.schedule = () => { setImmediate(this.loop.run); };
    this.out.onAcked = () => this.settleIfClosing();

    this.closed = new Promise((resolve) => { this.closedResolve = resolve; });
    let readyResolve!: () => void;
    let readyReject!: (error: Error) => void;
    this.ready = new Promise((resolve, reject) => { readyResolve = resolve; readyReject = reject; });
    this.ready.catch(() => {}); // a user who never awaits ready is not told of an unhandled rejection
    this.readyReject = readyReject;
    this.socket.onReady = () => {
      readyResolve();
      this.emit('ready');
    };
    this.sockWatch = ends.sockWatch ?? new SocketWatch(core.sock, POLL_READABLE | POLL_DISCONNECT);
    this.sockWatch.onEvent = (status, events) => this.onSocket(status, events);
    try {
      this.loop.start();
      // Fails (EPIPE) when the peer is already gone.
      if (core.side === 1) this.socket.sendAttached();
    } catch (e) {
      // The caller closes the fds: the pollers on them must be closed first (a socket watch the
      // caller passed stays its own), and the loop's scheduled run must find the channel closed.
      core.state = 'closed';
      this.loop.close();
      if (ends.sockWatch === undefined) pollClose(this.sockWatch.handle);
      throw e;
    }
    this.on('newListener', (event) => {
      if (event === 'message') this.loop.runSoon();
    });
  }

  /** True until close() is called or the peer goes away. */
  get isOpen(): boolean {
    return this.core.state === 'open';
  }

  /**
   * Sends bytes (any ArrayBufferView, delivered as a Uint8Array) or a value
   * (by JSON or structured clone). Resolves when the message is in the ring,
   * or for a large payload by CMA when the peer has pulled it: do not change
   * the bytes before then. Waits while the ring is full (never drops).
   * `handle`: raw fds, a net.Socket or a net.Server (or an array of them) to
   * pass with the message (see docs/channel.md, "Handles and fds").
   */
  send(data: unknown, handle?: SendHandle | SendHandle[], options?: SendHandleOptions): Promise<void> {
    if (this.core.state !== 'open') return Promise.reject(new ChannelClosedError(this.closeReason, 'send'));
    const out = this.out;
    let kind: number, payload: Uint8Array | string;
    let handles = null;
    try {
      if (handle !== undefined) handles = outgoingHandles(handle, options);
      if (ArrayBuffer.isView(data)) {
        kind = KIND_BYTES;
        payload = toBytes(data);
      } else {
        kind = this.json ? KIND_JSON : KIND_ADVANCED;
        payload = out.encodeValue(data);
      }
      if (out.queue.length === 0) {
        const r = handles ? out.writeWithHandles(kind, payload, null, handles) : out.write(kind, payload, null);
        if (r === 1) return RESOLVED;
        if (typeof r === 'object') return r;
      }
    } catch (e) {
      return Promise.reject(e as Error);
    }
    return new Promise<void>((resolve, reject) => {
      out.queue.push({ kind, payload, resolve, reject, handles });
      out.waitForRoom();
    });
  }

  /** Like send, but returns false (sending nothing) when the ring is full or sends are queued. */
  trySend(data: unknown, handle?: SendHandle | SendHandle[], options?: SendHandleOptions): boolean {
    if (this.core.state !== 'open') throw new ChannelClosedError(this.closeReason, 'trySend');
    const out = this.out;
    if (out.queue.length !== 0) return false;
    const handles = handle === undefined ? null : outgoingHandles(handle, options);
    let kind: number, payload: Uint8Array | string;
    if (ArrayBuffer.isView(data)) {
      kind = KIND_BYTES;
      payload = toBytes(data);
    } else {
      kind = this.json ? KIND_JSON : KIND_ADVANCED;
      payload = out.encodeValue(data);
    }
    const r = handles ? out.writeWithHandles(kind, payload, null, handles) : out.write(kind, payload, null);
    if (r === 0) {
      if (!this.large.sending && !handles?.passed) return false;
      // Part of the message (its handles, part of a payload in chunks or pieces) is in the ring: the rest follows, in order, before anything else.
      out.queue.push({ kind, payload, resolve: null, reject: null, handles });
      out.waitForRoom();
      return true;
    }
    if (typeof r === 'object') r.catch(NOOP);
    return true;
  }

  /**
   * Sends the bytes of `pieces` joined (`byteLength` in all, above the large-payload threshold)
   * as one byte message when the payload arena can take them now, copying each piece once
   * into it. Returns false, sending nothing, otherwise: the caller then sends them joined.
   */
  trySendPieces(pieces: readonly Uint8Array[], byteLength: number): boolean {
    if (this.core.state !== 'open') throw new ChannelClosedError(this.closeReason, 'trySend');
    return this.out.queue.length === 0 && this.large.sendPieces(KIND_BYTES, pieces, byteLength);
  }

  /** Resolves when a message of up to the large-payload threshold can be sent without waiting. */
  whenWritable(): Promise<void> {
    if (this.core.state !== 'open') return Promise.reject(new ChannelClosedError(this.closeReason, 'whenWritable'));
    this.out.collectAcks();
    if (this.out.hasRoom()) return RESOLVED;
    return new Promise<void>((resolve) => {
      this.out.writableWaiters.push(resolve);
      this.out.waitForRoom();
    });
  }

  /**
   * Closes this end: queued sends are rejected, large payloads the peer is
   * pulling are waited for, then the socket, doorbells and segment are freed.
   */
  close(): Promise<void> {
    if (this.core.state === 'open') {
      this.core.state = 'closing';
      this.out.rejectQueued(new ChannelClosedError('closed', 'closed before it was sent'));
      this.settleIfClosing();
    }
    return this.closed;
  }

  /** Keeps the process alive while the channel is open (the default). */
  ref(): this {
    this.refed = true;
    this.applyRef();
    return this;
  }

  /** Lets the process exit while the channel is open. */
  unref(): this {
    this.refed = false;
    this.applyRef();
    return this;
  }

  /** Stops delivering messages (the peer's sends then wait); resume() restarts. */
  pause(): void {
    this.core.paused = true;
  }

  resume(): void {
    if (!this.core.paused) return;
    this.core.paused = false;
    this.loop.runSoon();
  }

  /** Messages in order; ends when the channel closes. Holds at most about 1024 undelivered before pausing the channel. */
  async *[Symbol.asyncIterator](): AsyncGenerator<unknown, void, undefined> {
    const buffered: unknown[] = [];
    let wake: (() => void) | null = null;
    const viewsMax = this.core.settings.viewsMaxBytes;
    const onMessage = (m: unknown): void => {
      buffered.push(m instanceof Uint8Array && m.byteLength <= viewsMax ? m.slice() : m);
      if (buffered.length >= ITERATOR_HIGH_WATER) this.pause();
      if (wake) { wake(); wake = null; }
    };
    const onClose = (): void => {
      if (wake) { wake(); wake = null; }
    };
    this.on('message', onMessage);
    this.on('close', onClose);
    try {
      for (;;) {
        if (buffered.length > 0) {
          const m = buffered.shift();
          if (buffered.length < ITERATOR_HIGH_WATER / 2 && this.core.paused) this.resume();
          yield m;
          continue;
        }
        if (this.core.isClosed()) return;
        await new Promise<void>((resolve) => { wake = resolve; });
      }
    } finally {
      this.off('message', onMessage);
      this.off('close', onClose);
      if (this.core.paused) this.resume();
    }
  }

  private onSocket(status: number, events: number): void {
    if (this.core.isClosed()) return;
    try {
      // libuv reports EPOLLERR (a peer that closed with our bytes unread) as
      // status < 0 and stops the poller: read what the peer sent before it went.
      const ended = this.socket.pump();
      if (status < 0 || ended || (events & POLL_DISCONNECT) !== 0) this.hangUp();
      else if (!this.core.settings.busy) this.loop.run();
    } catch (e) {
      this.fail(e);
    }
  }

  /**
   * The socket hung up. With a 'hangup' listener (an owner that learns otherwise whether the peer
   * lives, as the bus tells direct peers), the channel stops watching the socket and goes on with
   * its rings and doorbells until close() or peerExited(); else the peer is gone.
   */
  private hangUp(): void {
    if (this.listenerCount('hangup') === 0) return this.peerGone();
    if (this.socketDown) return;
    this.socketDown = true;
    pollClose(this.sockWatch.handle);
    this.loop.runSoon();
    this.emit('hangup');
  }

  /** @internal After a 'hangup': the peer is gone; what it wrote is delivered, then the channel closes. */
  peerExited(): void {
    if (!this.core.isClosed()) this.peerGone();
  }

  private peerGone(): void {
    // Deliver what the peer wrote before it went away, then close. A paused
    // channel (an iterator that is behind) closes once it has caught up.
    const core = this.core;
    core.hungUp = true;
    let error: Error | undefined;
    try {
      if (!core.paused && !this.loop.isRunning) this.inb.drain();
    } catch (e) {
      if (!(e instanceof ProcessGoneError)) error = e as Error;
    }
    if (error) this.finish('error', error);
    else if (!core.paused || !core.hasListener()) this.finish(this.socket.sawBye ? 'peer-closed' : 'peer-exited');
  }

  private fail(e: unknown): void {
    if (e instanceof ProcessGoneError) return this.finish('peer-exited');
    if (e instanceof ProtocolError || e instanceof SystemError) return this.finish('error', e);
    throw e;
  }

  private settleIfClosing(): void {
    if (this.core.state === 'closing' && this.out.noneExposed()) this.finish('closed');
  }

  private finish(reason: CloseReason, error?: Error): void {
    const core = this.core;
    if (core.isClosed()) return;
    this.out.publishNow();
    core.state = 'closed';
    this.closeReason = reason;
    this.closeError = error;
    if (reason === 'closed') {
      try { this.socket.pump(); } catch { /* closing anyway */ } // unread bytes would make the peer see a reset
      this.socket.sendBye(); // closed now: a failure is not reported
    }
    const closedError = new ChannelClosedError(reason, error?.message);
    this.readyReject(closedError); // no effect once ready
    this.out.rejectQueued(closedError);
    this.out.abandonInFlight(closedError);
    this.out.wakeWritable();
    pollClose(this.sockWatch.handle);
    this.loop.close();
    this.probeExposure.release();
    sockShutdown(core.sock, 2);
    // Unmap after the current stack: a listener may still hold the ring's views.
    setImmediate(() => {
      core.unmapped = true;
      this.out.forget();
      shmUnmap(core.segment.buffer);
      this.large.close();
      this.handles.close();
      for (const fd of [core.sock, core.selfEfd, core.peerEfd, core.segment.fd]) if (fd >= 0) fdClose(fd);
      this.closedResolve();
      this.emit('close', this.closeReason, this.closeError);
    });
  }

  private applyRef(): void {
    if (this.core.isClosed()) return;
    pollRef(this.sockWatch.handle, this.refed);
    this.loop.ref(this.refed);
  }
}
