// A channel: two processes exchanging messages over two shared-memory rings
// (one per direction), woken by eventfd doorbells only when the consumer
// sleeps, with a unix socket kept open for hang-up detection, handshake and
// fd handoff. Large payloads go through a payload arena (a memfd both ends
// map once), by cross-memory attach (the receiver pulls from the sender's
// exposed buffer), by a memfd of their own, or in chunks through the ring.
// Invariants: order is kept per direction; a full ring waits, never drops;
// every exposed buffer is released at acknowledgement or close.
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { constants as bufferConstants } from 'node:buffer';
import v8 from 'node:v8';
import { ProtocolError, SystemError, errnoName } from '../errors.js';
import {
  EAGAIN, F_SEAL_SHRINK, POLL_DISCONNECT, POLL_READABLE, check, efdDrain, efdSignal, fdClose, fdSize, memfdGetSeals, memfdOpen, memfdTruncate,
  pollClose, pollOpen, pollRef, shmMap, shmUnmap, sockRecv, sockSend, sockShutdown, type PollHandle,
} from '../native/native.js';
import { exposeBuffer, probe as cmaProbe, readFully, ProcessGoneError, type ExposedBuffer, type ProbeResult, type RemoteRange } from '../cma/index.js';
import { RingReader, RingWriter, frameBytes } from './ring.js';
import { SegmentHeader, type Segment } from './segment.js';
import { MAX_ARENA_BYTES, PayloadArena, PeerArena } from './arena.js';

// Frame kinds (kind 0 is the ring's padding). Large payloads are
// acknowledged, in order, through the ring's `acked` word, not by frames, so
// acknowledgements never wait behind messages nobody reads yet.
const KIND_BYTES = 1;
const KIND_JSON = 2;
const KIND_ADVANCED = 3;
const KIND_LARGE_CMA = 4; // [token u32][inner kind u32][address u64][length f64]
const KIND_LARGE_MEMFD = 5; // [token u32][inner kind u32][length f64]; the fd comes over the socket
const KIND_LARGE_ARENA = 6; // [token u32][inner kind u32][arena id u32][0 u32][offset f64][length f64]
const KIND_CHUNK = 7; // [inner kind u32][0 u32][total length f64][chunk bytes]; chunks of one payload are consecutive

// Socket messages: JSON handshake text, or a binary fd handoff
// [SOCK_PAYLOAD_FD u32][token u32] + 1 fd, or [SOCK_ARENA_FD u32][arena id u32] + 1 fd.
const SOCK_PAYLOAD_FD = 1;
const SOCK_ARENA_FD = 2;

const MiB = 1 << 20;
const DEFAULT_ARENA_BYTES = 8 * MiB;
/** 'auto' puts a payload in the arena when the arenas can hold it within this, else uses CMA (see docs/channel.md). */
const DEFAULT_ARENA_MAX_BYTES = 64 * MiB;

const MAX_LENGTH = bufferConstants.MAX_LENGTH;
const BUSY_SLICE_MS = 1;
const MAX_LARGE_IN_FLIGHT = 64;
const ITERATOR_HIGH_WATER = 1024;

/** How large payloads travel (see ChannelOptions.largePayload). */
export type LargePayloadMode = 'auto' | 'arena' | 'cma' | 'memfd' | 'ring';
const LARGE_MODES: readonly string[] = ['auto', 'arena', 'cma', 'memfd', 'ring'];

/** Why a channel closed. */
export type CloseReason = 'closed' | 'peer-closed' | 'peer-exited' | 'error';

/** Options shared by listen, connect, fork and parentChannel. */
export interface ChannelOptions {
  /** How non-byte values travel: 'json' (default, as child_process) or 'advanced' (v8 structured clone). */
  serialization?: 'json' | 'advanced';
  /** Microseconds to keep polling the ring after it runs dry, before sleeping on the doorbell (default 0). */
  spinUs?: number;
  /** Never sleep: poll the ring continuously (one core at 100%), for the lowest latency. */
  busy?: boolean;
  /** Payloads above this many bytes go as large payloads, see largePayload (default 64 KiB, at most ring/4). */
  largeThresholdBytes?: number;
  /**
   * How large payloads travel: 'auto' (the arena when it can hold the payload
   * within arenaMaxBytes; above, CMA when the peer's probe succeeded, else a
   * memfd per payload; chunks through the ring when no memfd can be made),
   * or forced: 'arena', 'cma', 'memfd' (a new memfd per payload) or 'ring' (chunks).
   */
  largePayload?: LargePayloadMode;
  /** First payload arena of each direction, in bytes (default 8 MiB; made at the first arena payload). */
  arenaSizeBytes?: number;
  /**
   * All arenas of one direction together, at most (default 64 MiB). An arena is twice the
   * largest payload it was made for, so by default payloads up to about 28 MiB use it.
   */
  arenaMaxBytes?: number;
  /**
   * Deliver byte messages as views into the ring or the arena (or one reused buffer
   * for CMA and chunked ones), valid only until the 'message' listener returns: no copy, no allocation.
   */
  views?: boolean;
  /** Where the one-line notices go (default console.warn). */
  log?: (line: string) => void;
  /** For tests: replaces the CMA probe of the peer. */
  probe?: (pid: number, range: RemoteRange) => ProbeResult;
  /** For tests: makes creating a payload memfd fail as the kernel does when it refuses one (ENOMEM). */
  refuseMemfd?: boolean;
}

/** A send or receive on a channel that is closed (or closed meanwhile). */
export class ChannelClosedError extends Error {
  readonly code = 'ERR_CHANNEL_CLOSED';
  readonly reason: CloseReason;
  constructor(reason: CloseReason, detail?: string) {
    super(`channel closed (${reason})${detail ? `: ${detail}` : ''}`);
    this.name = 'ChannelClosedError';
    this.reason = reason;
  }
}

/** What a side needs to run its end of a channel (made by listen, connect, fork). */
export interface ChannelEnds {
  side: 0 | 1;
  segment: Segment;
  sock: number;
  selfEfd: number;
  peerEfd: number;
  peerPid: number;
  /** A poller already watching `sock`; the channel takes it over. */
  sockWatch?: SocketWatch;
  /** The exposed probe buffer this side published in the header. */
  probeExposure: ExposedBuffer;
}

/** A libuv poller on the socket whose handler can be replaced. */
export class SocketWatch {
  handle: PollHandle;
  onEvent: (status: number, events: number) => void = () => {};
  constructor(fd: number, events: number) {
    this.handle = pollOpen(fd, events, (status, events) => this.onEvent(status, events));
  }
}

interface Queued {
  kind: number;
  payload: Uint8Array | string;
  resolve: (() => void) | null;
  reject: ((e: Error) => void) | null;
}

interface InFlight {
  exposure: ExposedBuffer | null;
  /** For an arena payload: its arena and the bytes its extent consumed there. */
  arena: PayloadArena | null;
  consumedBytes: number;
  resolve: (() => void) | null;
  reject: ((e: Error) => void) | null;
}

const RESOLVED = Promise.resolve();

// Small frames are published (tail stored, sleeper rung) once per 32, and at
// the end of the current synchronous run (a microtask), not one by one.
const PUBLISH_EVERY = 32;
const unpublished = new Set<Channel>();
let publishQueued = false;

function publishAll(): void {
  publishQueued = false;
  if (unpublished.size === 0) return;
  for (const channel of unpublished) channel.publishNow();
  unpublished.clear();
}
const NOOP = (): void => {};

/** A buffer of exactly `length` bytes, not zeroed, in memory of its own (never a pool slice). */
function ownedBytes(length: number): Uint8Array {
  return new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
}

function toBytes(view: ArrayBufferView): Uint8Array {
  return view instanceof Uint8Array ? view : new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** Counters for tests and monitoring. */
export interface ChannelStats {
  messagesSent: number;
  messagesReceived: number;
  cmaTransfers: number;
  memfdTransfers: number;
  arenaTransfers: number;
  chunkedTransfers: number;
  doorbellsRung: number;
}

/**
 * One end of a channel. Events: 'message' (value), 'close' (reason, error?).
 * Async-iterable over messages.
 */
export class Channel extends EventEmitter {
  /** The peer's process id. */
  readonly peerPid: number;
  /** Size of the shared segment (both rings and the header). */
  readonly segmentSizeBytes: number;
  readonly stats: ChannelStats = {
    messagesSent: 0, messagesReceived: 0, cmaTransfers: 0, memfdTransfers: 0, arenaTransfers: 0, chunkedTransfers: 0, doorbellsRung: 0,
  };

  private readonly side: 0 | 1;
  private readonly segment: Segment;
  private readonly header: SegmentHeader;
  private readonly u8: Uint8Array;
  private readonly text: Buffer;
  private readonly u32: Uint32Array;
  private readonly f64: Float64Array;
  private readonly u64: BigUint64Array;
  private readonly writer: RingWriter;
  private readonly reader: RingReader;
  private readonly sock: number;
  private readonly selfEfd: number;
  private readonly peerEfd: number;
  private readonly sockWatch: SocketWatch;
  private doorbell: PollHandle | null = null;
  private readonly probeExposure: ExposedBuffer;

  private readonly json: boolean;
  private readonly spinMs: number;
  private readonly busy: boolean;
  private readonly threshold: number;
  private readonly largeMode: LargePayloadMode;
  private readonly arenaFirstBytes: number;
  private readonly arenaMaxBytes: number;
  private readonly chunkBytes: number;
  private readonly views: boolean;
  private readonly log: (line: string) => void;
  private readonly probeFn: (pid: number, range: RemoteRange) => ProbeResult;

  private state: 'open' | 'closing' | 'closed' = 'open';
  private closeReason: CloseReason = 'closed';
  private closeError: Error | undefined;
  private sawBye = false;
  private hungUp = false;
  private paused = false;
  private refed = true;
  private running = false;
  private busyTimer: NodeJS.Immediate | null = null;
  private peerCanReadMe: 'unknown' | 'yes' | 'no' = 'unknown';
  private peerRefusal = '';
  private loggedFallback = false;
  /** Why the head large payload waits: for the CMA verdict, for in-flight slots, or for arena room. */
  private largeBlocked: '' | 'verdict' | 'inflight' | 'arena' = '';
  private arenaWaitBytes = 0;
  /** This side's arenas (the last one takes new payloads) and the peer's, by id. */
  private readonly arenas: PayloadArena[] = [];
  private arenaTotalBytes = 0;
  private arenaRefusal = '';
  private readonly refuseMemfd: boolean;
  private readonly peerArenas = new Map<number, PeerArena>();
  /** Bytes of the head payload already sent in chunks through the ring. */
  private chunkSent = 0;
  /** The payload being reassembled from ring chunks. */
  private assembly: { kind: number; buf: Uint8Array; filled: number } | null = null;
  private appended = 0;
  private isClosedAndUnmapped = false;

  private readonly queue: Queued[] = [];
  private readonly inflight = new Map<number, InFlight>();
  private nextToken = 1;
  private readonly pendingFds = new Map<number, number>();
  private scratch: Uint8Array = new Uint8Array(0);
  private readonly sockBuf = Buffer.alloc(4096);
  private readonly sockState = new Int32Array(2 + 4);
  private writableWaiters: Array<() => void> = [];
  private readonly closed: Promise<void>;
  private closedResolve!: () => void;
  /** @internal resolves when the peer's CMA verdict is known (tests). */
  readonly ready: Promise<void>;
  private readyResolve!: () => void;

  /** @internal Channels are made by listen/connect/fork/parentChannel. */
  constructor(ends: ChannelEnds, options: ChannelOptions = {}) {
    super();
    this.side = ends.side;
    this.segment = ends.segment;
    this.segmentSizeBytes = ends.segment.sizeBytes;
    this.peerPid = ends.peerPid;
    this.header = new SegmentHeader(ends.segment.buffer);
    this.u8 = new Uint8Array(ends.segment.buffer);
    this.text = Buffer.from(ends.segment.buffer);
    this.u32 = new Uint32Array(ends.segment.buffer);
    this.f64 = new Float64Array(ends.segment.buffer);
    this.u64 = new BigUint64Array(ends.segment.buffer);
    this.writer = new RingWriter(ends.segment, ends.segment.rings[ends.side]);
    this.reader = new RingReader(ends.segment, ends.segment.rings[1 - ends.side]);
    this.sock = ends.sock;
    this.selfEfd = ends.selfEfd;
    this.peerEfd = ends.peerEfd;
    this.probeExposure = ends.probeExposure;

    const serialization = options.serialization ?? 'json';
    if (serialization !== 'json' && serialization !== 'advanced') throw new TypeError(`serialization must be 'json' or 'advanced', got '${String(serialization)}'`);
    this.json = serialization === 'json';
    const spinUs = options.spinUs ?? 0;
    if (!(spinUs >= 0 && spinUs <= 1e6)) throw new RangeError(`spinUs must be between 0 and 1000000, got ${spinUs}`);
    this.spinMs = spinUs / 1000;
    this.busy = options.busy === true;
    const threshold = options.largeThresholdBytes ?? 64 * 1024;
    if (!Number.isInteger(threshold) || threshold < 0) throw new RangeError(`largeThresholdBytes must be a non-negative integer, got ${threshold}`);
    this.threshold = Math.min(threshold, ends.segment.ringBytes / 4);
    const mode = options.largePayload ?? 'auto';
    if (!LARGE_MODES.includes(mode)) throw new TypeError(`largePayload must be one of ${LARGE_MODES.join(', ')}, got '${String(mode)}'`);
    this.largeMode = mode;
    const arenaMax = options.arenaMaxBytes ?? DEFAULT_ARENA_MAX_BYTES;
    if (!Number.isInteger(arenaMax) || arenaMax < 4096) throw new RangeError(`arenaMaxBytes must be an integer of at least 4096, got ${arenaMax}`);
    this.arenaMaxBytes = arenaMax;
    const arenaFirst = options.arenaSizeBytes ?? Math.min(DEFAULT_ARENA_BYTES, arenaMax);
    if (!Number.isInteger(arenaFirst) || arenaFirst < 4096 || arenaFirst > Math.min(arenaMax, MAX_ARENA_BYTES)) {
      throw new RangeError(`arenaSizeBytes must be an integer between 4096 and arenaMaxBytes (${Math.min(arenaMax, MAX_ARENA_BYTES)}), got ${arenaFirst}`);
    }
    this.arenaFirstBytes = arenaFirst;
    this.chunkBytes = Math.max(64, ends.segment.ringBytes / 4 - 24);
    this.refuseMemfd = options.refuseMemfd === true;
    this.views = options.views === true;
    this.log = options.log ?? ((line) => console.warn(line));
    this.probeFn = options.probe ?? cmaProbe;

    this.closed = new Promise((resolve) => { this.closedResolve = resolve; });
    this.ready = new Promise((resolve) => { this.readyResolve = resolve; });
    this.sockWatch = ends.sockWatch ?? new SocketWatch(this.sock, POLL_READABLE | POLL_DISCONNECT);
    this.sockWatch.onEvent = (status, events) => this.onSocket(status, events);
    if (!this.busy) {
      this.doorbell = pollOpen(this.selfEfd, POLL_READABLE, () => {
        efdDrain(this.selfEfd);
        this.run();
      });
    }
    if (this.side === 1) {
      const verdict = this.probePeer();
      this.sendSocket({ t: 'attached', ...verdict });
    }
    this.on('newListener', (event) => {
      if (event === 'message' && !this.busy && !this.isClosed()) setImmediate(() => this.run());
    });
    setImmediate(() => (this.busy ? this.busyLoop() : this.run()));
  }

  private isClosed(): boolean {
    return this.state === 'closed';
  }

  /** True until close() is called or the peer goes away. */
  get isOpen(): boolean {
    return this.state === 'open';
  }

  /**
   * Sends bytes (any ArrayBufferView, delivered as a Uint8Array) or a value
   * (by JSON or structured clone). Resolves when the message is in the ring,
   * or for a large payload by CMA when the peer has pulled it: do not change
   * the bytes before then. Waits while the ring is full (never drops).
   */
  send(data: unknown): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new ChannelClosedError(this.closeReason, 'send'));
    let kind: number, payload: Uint8Array | string;
    try {
      if (ArrayBuffer.isView(data)) {
        kind = KIND_BYTES;
        payload = toBytes(data);
      } else {
        kind = this.json ? KIND_JSON : KIND_ADVANCED;
        payload = this.encodeValue(data);
      }
      if (this.queue.length === 0) {
        const r = this.write(kind, payload, null);
        if (r === 1) return RESOLVED;
        if (typeof r === 'object') return r;
      }
    } catch (e) {
      return Promise.reject(e as Error);
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ kind, payload, resolve, reject });
      this.waitForRoom();
    });
  }

  /** Like send, but returns false (sending nothing) when the ring is full or sends are queued. */
  trySend(data: unknown): boolean {
    if (this.state !== 'open') throw new ChannelClosedError(this.closeReason, 'trySend');
    if (this.queue.length !== 0) return false;
    let kind: number, payload: Uint8Array | string;
    if (ArrayBuffer.isView(data)) {
      kind = KIND_BYTES;
      payload = toBytes(data);
    } else {
      kind = this.json ? KIND_JSON : KIND_ADVANCED;
      payload = this.encodeValue(data);
    }
    const r = this.write(kind, payload, null);
    if (r === 0) {
      if (this.chunkSent === 0) return false;
      // Part of a chunked payload is in the ring: the rest follows, in order, before anything else.
      this.queue.push({ kind, payload, resolve: null, reject: null });
      this.waitForRoom();
      return true;
    }
    if (typeof r === 'object') r.catch(NOOP);
    return true;
  }

  /** Resolves when a message of up to the large-payload threshold can be sent without waiting. */
  whenWritable(): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new ChannelClosedError(this.closeReason, 'whenWritable'));
    this.collectAcks();
    if (this.hasRoom()) return RESOLVED;
    return new Promise<void>((resolve) => {
      this.writableWaiters.push(resolve);
      this.waitForRoom();
    });
  }

  /**
   * Closes this end: queued sends are rejected, large payloads the peer is
   * pulling are waited for, then the socket, doorbells and segment are freed.
   */
  close(): Promise<void> {
    if (this.state === 'open') {
      this.state = 'closing';
      this.rejectQueued(new ChannelClosedError('closed', 'closed before it was sent'));
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
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.busy && !this.isClosed()) setImmediate(() => this.run());
  }

  /** Messages in order; ends when the channel closes. Holds at most about 1024 undelivered before pausing the channel. */
  async *[Symbol.asyncIterator](): AsyncGenerator<unknown, void, undefined> {
    const buffered: unknown[] = [];
    let wake: (() => void) | null = null;
    const onMessage = (m: unknown): void => {
      buffered.push(this.views && m instanceof Uint8Array ? m.slice() : m);
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
          if (buffered.length < ITERATOR_HIGH_WATER / 2 && this.paused) this.resume();
          yield m;
          continue;
        }
        if (this.isClosed()) return;
        await new Promise<void>((resolve) => { wake = resolve; });
      }
    } finally {
      this.off('message', onMessage);
      this.off('close', onClose);
      if (this.paused) this.resume();
    }
  }

  // ---- sending ----

  private encodeValue(value: unknown): Uint8Array | string {
    if (this.json) {
      const s = JSON.stringify(value);
      if (s === undefined) throw new TypeError(`cannot send ${typeof value} as JSON`);
      return s;
    }
    return v8.serialize(value);
  }

  /**
   * 1: written; 0: no room (or must wait); 2: a queued large payload in
   * flight; a Promise: an unqueued large payload in flight.
   */
  private write(kind: number, payload: Uint8Array | string, queued: Queued | null): 0 | 1 | 2 | Promise<void> {
    let length: number;
    if (typeof payload === 'string') {
      length = payload.length * 3;
      if (length > this.threshold) {
        length = Buffer.byteLength(payload);
        if (length > this.threshold) return this.writeLarge(kind, Buffer.from(payload), queued);
      }
      const at = this.writer.reserve(length);
      if (at < 0) return this.full();
      const n = this.text.write(payload, at, length, 'utf8');
      this.commit(n, kind);
      return 1;
    }
    length = payload.byteLength;
    if (length > this.threshold) return this.writeLarge(kind, payload, queued);
    const at = this.writer.reserve(length);
    if (at < 0) return this.full();
    this.u8.set(payload, at);
    this.commit(length, kind);
    return 1;
  }

  /** The ring is full: what was appended must become visible, or the consumer never frees room. */
  private full(): 0 {
    this.publishNow();
    return 0;
  }

  private commit(length: number, kind: number, counts = true): void {
    if (counts) this.stats.messagesSent++;
    this.writer.append(length, kind);
    if (this.busy) {
      // Busy mode trades throughput for latency: every frame is visible at once.
      if (this.writer.publish()) this.ring();
      return;
    }
    if (++this.appended >= PUBLISH_EVERY) {
      this.publishNow();
    } else if (this.appended === 1) {
      unpublished.add(this);
      if (!publishQueued) {
        publishQueued = true;
        queueMicrotask(publishAll);
      }
    }
  }

  /** @internal Publishes the frames appended so far (and rings a sleeping peer). */
  publishNow(): void {
    if (this.appended === 0 || this.isClosedAndUnmapped) return;
    this.appended = 0;
    if (this.writer.publish()) this.ring();
  }

  private ring(): void {
    this.stats.doorbellsRung++;
    efdSignal(this.peerEfd, 1);
  }

  /** How a large payload of `length` bytes travels now, or 'wait' for the peer's CMA verdict. */
  private largePath(length: number): 'cma' | 'arena' | 'memfd' | 'ring' | 'wait' {
    const mode = this.largeMode;
    if (mode === 'ring' || mode === 'memfd') return mode;
    const arenaOk = this.arenaRefusal === '' && this.arenaCanHold(length);
    if (mode === 'arena') return arenaOk ? 'arena' : this.arenaRefusal === '' ? 'memfd' : 'ring';
    if (mode === 'auto' && arenaOk) return 'arena';
    if (this.peerCanReadMe === 'unknown') return 'wait';
    if (this.peerCanReadMe === 'yes') return 'cma';
    if (mode === 'cma') {
      throw new Error(`large payload forced to cross-memory attach, but process ${this.peerPid} cannot read this one: ${this.peerRefusal}`);
    }
    if (!this.loggedFallback) {
      this.loggedFallback = true;
      this.log(`fastbus channel: peer ${this.peerPid} cannot use cross-memory attach (${this.peerRefusal}); large payloads go by ${this.arenaRefusal === '' ? 'a memfd each when the payload arena cannot hold them' : 'chunks through the ring'}`);
    }
    return this.arenaRefusal === '' ? 'memfd' : 'ring';
  }

  private writeLarge(kind: number, payload: Uint8Array, queued: Queued | null): 0 | 1 | 2 | Promise<void> {
    this.largeBlocked = ''; // set again below if this payload must wait
    if (this.chunkSent > 0) return this.writeChunks(kind, payload);
    if (this.inflight.size >= MAX_LARGE_IN_FLIGHT) return this.blockLarge('inflight');
    let path = this.largePath(payload.byteLength);
    if (path === 'wait') return this.blockLarge('verdict'); // retried when the verdict arrives
    if (path === 'arena') {
      const r = this.writeArena(kind, payload);
      if (r !== -1) return r;
      path = this.largeMode === 'auto' && this.peerCanReadMe === 'yes' ? 'cma' : 'ring';
    }
    if (path === 'ring') return this.writeChunks(kind, payload);
    const token = this.nextToken;
    if (path === 'cma') {
      const at = this.writer.reserve(24);
      if (at < 0) return this.full();
      this.nextToken = (this.nextToken + 1) >>> 0 || 1;
      const exposure = exposeBuffer(payload);
      this.u32[at >> 2] = token;
      this.u32[(at >> 2) + 1] = kind;
      this.u64[(at >> 3) + 1] = exposure.address;
      this.f64[(at >> 3) + 2] = payload.byteLength;
      this.stats.cmaTransfers++;
      const entry: InFlight = { exposure, arena: null, consumedBytes: 0, resolve: null, reject: null };
      this.inflight.set(token, entry);
      this.commit(24, KIND_LARGE_CMA);
      this.publishNow();
      if (queued) {
        entry.resolve = queued.resolve;
        entry.reject = queued.reject;
        return 2; // the queued promise settles at the acknowledgement
      }
      return new Promise<void>((resolve, reject) => {
        entry.resolve = resolve;
        entry.reject = reject;
      });
    }
    const at = this.writer.reserve(16);
    if (at < 0) return this.full();
    let fd: number;
    try {
      if (this.refuseMemfd) throw new SystemError(12, 'memfd_create', 'refused for a test');
      fd = check(memfdOpen('fastbus-payload', false), 'memfd_create');
    } catch (e) {
      if (this.largeMode === 'memfd') throw e;
      this.refuseArena(e as Error);
      return this.writeChunks(kind, payload);
    }
    try {
      check(memfdTruncate(fd, payload.byteLength), 'ftruncate');
      const map = shmMap(fd, payload.byteLength, true);
      new Uint8Array(map).set(payload);
      shmUnmap(map);
      const msg = new Uint32Array([SOCK_PAYLOAD_FD, token]);
      check(sockSend(this.sock, [msg], Int32Array.of(fd)), 'sendmsg');
    } finally {
      fdClose(fd);
    }
    this.nextToken = (this.nextToken + 1) >>> 0 || 1;
    this.u32[at >> 2] = token;
    this.u32[(at >> 2) + 1] = kind;
    this.f64[(at >> 3) + 1] = payload.byteLength;
    this.stats.memfdTransfers++;
    this.inflight.set(token, { exposure: null, arena: null, consumedBytes: 0, resolve: null, reject: null });
    this.commit(16, KIND_LARGE_MEMFD);
    this.publishNow();
    return 1;
  }

  /** True when the arenas can take a payload of `length` bytes, now or once extents come back. */
  private arenaCanHold(length: number): boolean {
    const last = this.arenas[this.arenas.length - 1];
    if (last && last.sizeBytes >= length) return true;
    return this.arenaTotalBytes + this.nextArenaBytes(length) <= this.arenaMaxBytes;
  }

  private nextArenaBytes(length: number): number {
    return Math.min(MAX_ARENA_BYTES, Math.max(this.arenaFirstBytes, 2 * length + 4096));
  }

  /** No memfd can be made or mapped here: large payloads go in chunks from now on, with one log line. */
  private refuseArena(e: Error): void {
    this.arenaRefusal = e.message;
    this.log(`fastbus channel: cannot make a shared payload buffer (${e.message}); large payloads to peer ${this.peerPid} go in chunks through the ring`);
  }

  /**
   * Copies a payload into a free extent of the newest arena (making a first or
   * larger one when needed) and puts its descriptor in the ring. 1: sent;
   * 0: wait (ring or arena full); -1: no arena can be made (use another path).
   */
  private writeArena(kind: number, payload: Uint8Array): 0 | 1 | -1 {
    const length = payload.byteLength;
    let arena = this.arenas[this.arenas.length - 1];
    if (!arena || arena.sizeBytes < length) {
      if (arena && !arena.isIdle && this.arenaTotalBytes + this.nextArenaBytes(length) > this.arenaMaxBytes) return this.blockLarge('arena', length);
      try {
        if (this.refuseMemfd) throw new SystemError(12, 'memfd_create', 'refused for a test');
        const opened = PayloadArena.open(this.arenas.length + 1, this.nextArenaBytes(length));
        try {
          check(sockSend(this.sock, [Uint32Array.of(SOCK_ARENA_FD, opened.arena.id)], Int32Array.of(opened.fd)), 'sendmsg', 'arena handoff');
        } catch (e) {
          opened.arena.close();
          throw e;
        } finally {
          fdClose(opened.fd);
        }
        arena = opened.arena;
        this.arenas.push(arena);
        this.arenaTotalBytes += arena.sizeBytes;
      } catch (e) {
        if (!(e instanceof SystemError)) throw e;
        this.refuseArena(e);
        return -1;
      }
    }
    if (!arena.fits(length)) {
      this.collectAcks();
      if (!arena.fits(length)) return this.blockLarge('arena', length);
    }
    const at = this.writer.reserve(32);
    if (at < 0) return this.full();
    const offset = arena.allocate(length);
    arena.u8.set(payload, offset);
    const token = this.nextToken;
    this.nextToken = (this.nextToken + 1) >>> 0 || 1;
    this.u32[at >> 2] = token;
    this.u32[(at >> 2) + 1] = kind;
    this.u32[(at >> 2) + 2] = arena.id;
    this.u32[(at >> 2) + 3] = 0;
    this.f64[(at >> 3) + 2] = offset;
    this.f64[(at >> 3) + 3] = length;
    this.stats.arenaTransfers++;
    this.inflight.set(token, { exposure: null, arena, consumedBytes: arena.consumedBytes, resolve: null, reject: null });
    this.commit(32, KIND_LARGE_ARENA);
    this.publishNow();
    return 1;
  }

  /**
   * Puts a payload through the ring in chunks, continuing where the last call
   * stopped (the payload stays at the head of the queue until done). 1: all
   * sent; 0: the ring is full (this.chunkSent says how far it got).
   */
  private writeChunks(kind: number, payload: Uint8Array): 0 | 1 {
    const total = payload.byteLength;
    while (this.chunkSent < total) {
      const n = Math.min(total - this.chunkSent, this.chunkBytes);
      const at = this.writer.reserve(16 + n);
      if (at < 0) return this.full();
      this.u32[at >> 2] = kind;
      this.u32[(at >> 2) + 1] = 0;
      this.f64[(at >> 3) + 1] = total;
      this.u8.set(payload.subarray(this.chunkSent, this.chunkSent + n), at + 16);
      this.commit(16 + n, KIND_CHUNK, false);
      this.chunkSent += n;
    }
    this.chunkSent = 0;
    this.stats.messagesSent++;
    this.stats.chunkedTransfers++;
    return 1;
  }

  /** A large payload must wait (for the peer's CMA verdict, in-flight slots or arena room). */
  private blockLarge(why: 'verdict' | 'inflight' | 'arena', bytes = 0): 0 {
    this.largeBlocked = why;
    this.arenaWaitBytes = bytes;
    return 0;
  }

  private hasRoom(): boolean {
    switch (this.largeBlocked) {
      case 'inflight':
        if (this.inflight.size >= MAX_LARGE_IN_FLIGHT) return false;
        break;
      case 'verdict':
        if (this.peerCanReadMe === 'unknown') return false;
        break;
      case 'arena':
        if (!this.arenas[this.arenas.length - 1].fits(this.arenaWaitBytes)) return false;
        break;
    }
    this.largeBlocked = '';
    return this.queue.length === 0 &&
      this.writer.usedBytes + frameBytes(this.threshold) * 2 <= this.segment.ringBytes;
  }

  private waitForRoom(): void {
    if (this.busy) return; // the busy loop retries on its own
    if (this.largeBlocked === 'inflight' || this.largeBlocked === 'arena') {
      // Woken by the peer's next acknowledgement, not by polling.
      if (this.writer.waitForAck(this.ackTarget())) setImmediate(() => this.run());
      return;
    }
    if (this.largeBlocked === 'verdict' && this.peerCanReadMe === 'unknown') return; // the verdict's socket message restarts us
    if (this.writer.waitForRoom(frameBytes(this.threshold))) setImmediate(() => this.run());
  }

  /**
   * The token to be woken at: blocked on in-flight slots, when half of them
   * are back; blocked on the arena, when half of it (at least the bytes
   * wanted) is back; otherwise at the oldest. One wake-up per batch, not per payload.
   */
  private ackTarget(): number {
    let last = 0, i = 0, bytes = 0;
    const arena = this.largeBlocked === 'arena' ? this.arenas[this.arenas.length - 1] : null;
    const wantBytes = arena ? Math.max(this.arenaWaitBytes, arena.sizeBytes / 2) : 0;
    for (const [token, entry] of this.inflight) {
      last = token;
      if (this.largeBlocked === 'inflight') {
        if (++i >= MAX_LARGE_IN_FLIGHT / 2) break;
      } else if (arena) {
        if (entry.arena === arena && (bytes += entry.consumedBytes) >= wantBytes) break;
      } else {
        break;
      }
    }
    return last;
  }

  /** Settles the large payloads the peer has acknowledged (tokens are acknowledged in order). */
  private collectAcks(): void {
    if (this.inflight.size === 0) return;
    const acked = this.writer.acked();
    for (const [token, entry] of this.inflight) {
      if (((acked - token) | 0) < 0) break;
      this.inflight.delete(token);
      entry.exposure?.release();
      entry.arena?.release(entry.consumedBytes);
      entry.resolve?.();
    }
    this.settleIfClosing();
  }

  /** Settles acknowledged payloads, then writes queued sends, in order, while there is room. */
  private flush(): void {
    this.collectAcks();
    while (this.queue.length > 0 && this.state === 'open') {
      const q = this.queue[0];
      let r: 0 | 1 | 2 | Promise<void>;
      try {
        r = this.write(q.kind, q.payload, q);
      } catch (e) {
        this.queue.shift();
        q.reject?.(e as Error);
        continue;
      }
      if (r === 0) {
        if (this.largeBlocked !== 'verdict' || this.peerCanReadMe !== 'unknown') this.waitForRoom();
        return;
      }
      this.queue.shift();
      if (r === 1) q.resolve?.();
    }
    if (this.writableWaiters.length > 0 && this.hasRoom()) {
      const waiters = this.writableWaiters;
      this.writableWaiters = [];
      for (const w of waiters) w();
    } else if (this.writableWaiters.length > 0) {
      this.waitForRoom();
    }
  }

  // ---- receiving ----

  /** Drains the inbound ring and flushes outbound work until both are idle, then sleeps. */
  private run(): void {
    if (this.isClosed() || this.running) return;
    this.running = true;
    try {
      for (;;) {
        this.drain();
        if (this.isClosed()) return;
        publishAll(); // replies sent by listeners ring their peers now, not after this loop
        this.flush();
        if (this.isClosed()) return;
        if (this.inflight.size > 0 && this.writer.waitForAck(this.ackTarget())) continue;
        if (this.hungUp && !this.paused) return this.peerGone();
        // Paused, or nobody listening: stay awake-but-idle (no doorbell); resume() or a new listener restarts us.
        if (this.paused || this.listenerCount('message') === 0) return;
        if (this.spinMs > 0 && this.spin()) continue;
        if (!this.reader.sleep()) return;
      }
    } catch (e) {
      this.fail(e);
    } finally {
      this.running = false;
    }
  }

  private spin(): boolean {
    publishAll();
    const end = performance.now() + this.spinMs;
    do {
      for (let i = 0; i < 64; i++) if (this.reader.refresh()) return true;
    } while (performance.now() < end);
    return false;
  }

  private busyLoop(): void {
    this.busyTimer = null;
    if (this.isClosed()) return;
    this.running = true;
    try {
      const end = performance.now() + BUSY_SLICE_MS;
      do {
        for (let i = 0; i < 64 && !this.isClosed(); i++) {
          if (!this.paused) this.drain();
          this.flush();
          publishAll();
        }
      } while (performance.now() < end && !this.isClosed());
      if (this.hungUp && !this.paused) this.peerGone();
    } catch (e) {
      this.fail(e);
    } finally {
      this.running = false;
    }
    if (!this.isClosed()) {
      this.busyTimer = setImmediate(() => this.busyLoop());
      if (!this.refed) this.busyTimer.unref();
    }
  }

  private drain(): void {
    const reader = this.reader;
    // Without a listener, messages wait in the ring (and the sender waits) rather than being lost.
    if (this.listenerCount('message') === 0) return;
    while (!this.paused && reader.refresh()) {
      let kind: number;
      try {
        while ((kind = reader.next()) !== -1) {
          this.dispatch(kind, reader.offset, reader.length);
          if (this.paused || this.isClosed()) break;
          // A chunk is copied out: its room goes back at once, so the sender refills while we copy.
          if (kind === KIND_CHUNK && reader.release()) this.ring();
        }
      } finally {
        if (!this.isClosed() && reader.release()) this.ring();
      }
      if (this.isClosed()) return;
    }
  }

  private dispatch(kind: number, at: number, length: number): void {
    if (this.assembly !== null && kind !== KIND_CHUNK) {
      throw new ProtocolError('CORRUPT_SEGMENT', `corrupt channel ring: frame kind ${kind} in the middle of a chunked payload`);
    }
    switch (kind) {
      case KIND_BYTES:
        this.stats.messagesReceived++;
        this.emit('message', this.views ? new Uint8Array(this.segment.buffer, at, length) : this.u8.slice(at, at + length));
        return;
      case KIND_JSON:
        this.stats.messagesReceived++;
        this.emit('message', this.decodeJson(this.text.toString('utf8', at, at + length)));
        return;
      case KIND_ADVANCED:
        this.stats.messagesReceived++;
        this.emit('message', this.decodeAdvanced(new Uint8Array(this.segment.buffer, at, length)));
        return;
      case KIND_LARGE_CMA:
        if (length !== 24) break;
        return this.receiveCma(at);
      case KIND_LARGE_MEMFD:
        if (length !== 16) break;
        return this.receiveMemfd(at);
      case KIND_LARGE_ARENA:
        if (length !== 32) break;
        return this.receiveArena(at);
      case KIND_CHUNK:
        if (length <= 16) break;
        return this.receiveChunk(at, length - 16);
    }
    throw new ProtocolError('CORRUPT_SEGMENT', `corrupt channel ring: frame kind ${kind} with ${length} bytes`);
  }

  private decodeJson(s: string): unknown {
    try {
      return JSON.parse(s);
    } catch (e) {
      throw new ProtocolError('BAD_PAYLOAD', `peer sent a JSON message that does not parse: ${(e as Error).message}`);
    }
  }

  private decodeAdvanced(bytes: Uint8Array): unknown {
    try {
      return v8.deserialize(bytes);
    } catch (e) {
      throw new ProtocolError('BAD_PAYLOAD', `peer sent a structured-clone message that does not deserialize: ${(e as Error).message}`);
    }
  }

  private receiveCma(at: number): void {
    const token = this.u32[at >> 2];
    const kind = this.u32[(at >> 2) + 1];
    const address = this.u64[(at >> 3) + 1];
    const length = this.f64[(at >> 3) + 2];
    if (!Number.isSafeInteger(length) || length < 0) throw new ProtocolError('CORRUPT_SEGMENT', `large payload of ${length} bytes`);
    const target = this.landing(kind, length);
    readFully(this.peerPid, [{ address, length }], [target]);
    this.acknowledge(token);
    this.deliverLarge(kind, target);
  }

  private receiveMemfd(at: number): void {
    const token = this.u32[at >> 2];
    const kind = this.u32[(at >> 2) + 1];
    const length = this.f64[(at >> 3) + 1];
    if (!Number.isSafeInteger(length) || length <= 0) throw new ProtocolError('CORRUPT_SEGMENT', `large payload of ${length} bytes`);
    const fd = this.passedOnSocket(this.pendingFds, token);
    if (fd === undefined) throw new ProtocolError('MISSING_FD', `peer announced memfd payload ${token} but sent no file descriptor`);
    this.pendingFds.delete(token);
    let map: ArrayBuffer;
    try {
      const size = check(fdSize(fd), 'fstat');
      if (size < length) throw new ProtocolError('BAD_PAYLOAD', `memfd payload of ${size} bytes announced as ${length}`);
      map = shmMap(fd, length, true);
    } finally {
      fdClose(fd);
    }
    this.acknowledge(token);
    if (this.views || kind !== KIND_BYTES) {
      this.deliverLarge(kind, new Uint8Array(map));
    } else {
      // An owned copy in ordinary memory, so the mapping is unmapped now
      // rather than whenever the collector gets to it.
      const owned = ownedBytes(length);
      owned.set(new Uint8Array(map));
      this.deliverLarge(kind, owned);
    }
    shmUnmap(map);
  }

  private receiveArena(at: number): void {
    const token = this.u32[at >> 2];
    const kind = this.u32[(at >> 2) + 1];
    const id = this.u32[(at >> 2) + 2];
    const offset = this.f64[(at >> 3) + 2];
    const length = this.f64[(at >> 3) + 3];
    const arena = this.passedOnSocket(this.peerArenas, id);
    if (arena === undefined) throw new ProtocolError('MISSING_FD', `peer put a payload in arena ${id} but never passed that arena`);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length <= 0 || offset + length > arena.sizeBytes) {
      throw new ProtocolError('CORRUPT_SEGMENT', `corrupt arena payload descriptor: ${length} bytes at offset ${offset} of arena ${id} (${arena.sizeBytes} bytes)`);
    }
    if (this.views || kind !== KIND_BYTES) {
      // The view is valid until the listener returns; then the extent goes back to the sender.
      try {
        this.deliverLarge(kind, new Uint8Array(arena.buffer, offset, length));
      } finally {
        if (!this.isClosed()) this.acknowledge(token);
      }
      return;
    }
    const owned = ownedBytes(length);
    owned.set(new Uint8Array(arena.buffer, offset, length));
    this.acknowledge(token);
    this.deliverLarge(kind, owned);
  }

  /** What the peer passed on the socket under `key` (an fd, an arena), reading the socket first if it is not there yet. */
  private passedOnSocket<T>(passed: Map<number, T>, key: number): T | undefined {
    const found = passed.get(key);
    if (found !== undefined) return found;
    this.pumpSocket();
    return passed.get(key);
  }

  private receiveChunk(at: number, n: number): void {
    const kind = this.u32[at >> 2];
    const total = this.f64[(at >> 3) + 1];
    let a = this.assembly;
    if (a === null) {
      if (!Number.isSafeInteger(total) || total < n || total > MAX_LENGTH) {
        throw new ProtocolError('CORRUPT_SEGMENT', `corrupt chunked payload: ${total} bytes announced, first chunk of ${n}`);
      }
      a = this.assembly = { kind, buf: this.landing(kind, total), filled: 0 };
    } else if (kind !== a.kind || total !== a.buf.byteLength || a.filled + n > total) {
      throw new ProtocolError('CORRUPT_SEGMENT', `corrupt chunked payload: a chunk of ${n} bytes (kind ${kind}, total ${total}) after ${a.filled} of ${a.buf.byteLength} bytes (kind ${a.kind})`);
    }
    a.buf.set(this.u8.subarray(at + 16, at + 16 + n), a.filled);
    a.filled += n;
    if (a.filled === a.buf.byteLength) {
      this.assembly = null;
      this.deliverLarge(a.kind, a.buf);
    }
  }

  /**
   * Where a large payload of `length` bytes is received: in views mode, byte
   * messages land in one reused buffer (valid until the listener returns, as
   * every view); otherwise in a buffer the listener owns.
   */
  private landing(kind: number, length: number): Uint8Array {
    if (!(this.views && kind === KIND_BYTES)) return ownedBytes(length);
    if (this.scratch.byteLength < length) this.scratch = ownedBytes(length);
    return this.scratch.subarray(0, length);
  }

  private deliverLarge(kind: number, bytes: Uint8Array): void {
    this.stats.messagesReceived++;
    if (kind === KIND_BYTES) this.emit('message', bytes);
    else if (kind === KIND_JSON) this.emit('message', this.decodeJson(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')));
    else if (kind === KIND_ADVANCED) this.emit('message', this.decodeAdvanced(bytes));
    else throw new ProtocolError('CORRUPT_SEGMENT', `large payload of unknown kind ${kind}`);
  }

  private acknowledge(token: number): void {
    if (this.reader.acknowledge(token)) this.ring();
  }

  // ---- the socket: handshake, fd handoff, hang-up ----

  private probePeer(): { verdict: 'yes' | 'no'; reason: string } {
    const peer = (1 - this.side) as 0 | 1;
    const result = this.probeFn(this.peerPid, { address: this.header.probeAddress(peer), length: 64 });
    return result.ok ? { verdict: 'yes', reason: '' } : { verdict: 'no', reason: `${result.code}: ${result.reason}` };
  }

  private sendSocket(message: object): void {
    const r = sockSend(this.sock, [Buffer.from(JSON.stringify(message))], null);
    if (r < 0 && !this.isClosed()) check(r, 'sendmsg', 'channel socket');
  }

  private onSocket(status: number, events: number): void {
    if (this.isClosed()) return;
    try {
      // libuv reports EPOLLERR (a peer that closed with our bytes unread) as
      // status < 0 and stops the poller: read what the peer sent before it went.
      const ended = this.pumpSocket();
      if (status < 0 || ended || (events & POLL_DISCONNECT) !== 0) this.peerGone();
      else if (!this.busy) this.run();
    } catch (e) {
      this.fail(e);
    }
  }

  /** Reads every waiting socket message; true at end of stream. */
  private pumpSocket(): boolean {
    let errors = 0;
    let ended = false;
    for (;;) {
      const n = sockRecv(this.sock, this.sockBuf, this.sockState);
      if (n === -EAGAIN) return ended;
      if (n < 0) {
        // A pending error (ECONNRESET) is reported once, before queued messages.
        ended = true;
        if (++errors > 1) return true;
        continue;
      }
      if (n === 0) return true;
      const fds = this.sockState.slice(2, 2 + this.sockState[0]);
      if (n === 8 && this.sockBuf.readUInt32LE(0) === SOCK_PAYLOAD_FD && fds.length === 1) {
        this.pendingFds.set(this.sockBuf.readUInt32LE(4), fds[0]);
        continue;
      }
      if (n === 8 && this.sockBuf.readUInt32LE(0) === SOCK_ARENA_FD && fds.length === 1) {
        this.mapPeerArena(this.sockBuf.readUInt32LE(4), fds[0]);
        continue;
      }
      for (const fd of fds) fdClose(fd);
      let msg: { t?: unknown; verdict?: unknown; reason?: unknown };
      try {
        msg = JSON.parse(this.sockBuf.toString('utf8', 0, n)) as typeof msg;
      } catch {
        throw new ProtocolError('BAD_HANDSHAKE', 'peer sent an unreadable channel control message');
      }
      if (msg.t === 'bye') {
        this.sawBye = true;
      } else if ((msg.t === 'attached' && this.side === 0) || (msg.t === 'probed' && this.side === 1)) {
        this.peerCanReadMe = msg.verdict === 'yes' ? 'yes' : 'no';
        this.peerRefusal = typeof msg.reason === 'string' ? msg.reason : '';
        if (this.side === 0) this.sendSocket({ t: 'probed', ...this.probePeer() });
        this.readyResolve();
        this.emit('ready');
      } else {
        throw new ProtocolError('BAD_HANDSHAKE', `unexpected channel control message '${String(msg.t)}'`);
      }
    }
  }

  /** Maps an arena the peer passed; a second arena with the same id, or a file of a bad size, is a corrupt peer. */
  private mapPeerArena(id: number, fd: number): void {
    let size: number;
    try {
      size = check(fdSize(fd), 'fstat');
    } catch (e) {
      fdClose(fd);
      throw e;
    }
    if (this.peerArenas.has(id) || size <= 0 || size > MAX_ARENA_BYTES) {
      fdClose(fd);
      throw new ProtocolError('BAD_PAYLOAD', `peer passed arena ${id} of ${size} bytes${this.peerArenas.has(id) ? ', an id it already used' : ''}`);
    }
    // A file that could shrink would make reading a payload from it a SIGBUS.
    const seals = memfdGetSeals(fd);
    if (seals < 0 || (seals & F_SEAL_SHRINK) === 0) {
      fdClose(fd);
      throw new ProtocolError('BAD_PAYLOAD', `peer passed arena ${id} not sealed against shrinking (${seals < 0 ? errnoName(-seals) : `seals 0x${seals.toString(16)}`})`);
    }
    this.peerArenas.set(id, new PeerArena(fd, size));
  }

  private peerGone(): void {
    // Deliver what the peer wrote before it went away, then close. A paused
    // channel (an iterator that is behind) closes once it has caught up.
    this.hungUp = true;
    let error: Error | undefined;
    try {
      if (!this.paused && !this.running) this.drain();
    } catch (e) {
      if (!(e instanceof ProcessGoneError)) error = e as Error;
    }
    if (error) this.finish('error', error);
    else if (!this.paused || this.listenerCount('message') === 0) this.finish(this.sawBye ? 'peer-closed' : 'peer-exited');
  }

  private fail(e: unknown): void {
    if (e instanceof ProcessGoneError) return this.finish('peer-exited');
    if (e instanceof ProtocolError || e instanceof SystemError) return this.finish('error', e);
    throw e;
  }

  private settleIfClosing(): void {
    if (this.state === 'closing' && this.noneExposed()) this.finish('closed');
  }

  /** True when no in-flight payload is an exposed buffer the peer may still be reading (memfd and arena ones need no wait). */
  private noneExposed(): boolean {
    for (const e of this.inflight.values()) if (e.exposure) return false;
    return true;
  }

  private rejectQueued(error: Error): void {
    const q = this.queue.splice(0);
    for (const item of q) item.reject?.(error);
  }

  private finish(reason: CloseReason, error?: Error): void {
    if (this.isClosed()) return;
    this.publishNow();
    this.state = 'closed';
    this.closeReason = reason;
    this.closeError = error;
    if (reason === 'closed') {
      try { this.pumpSocket(); } catch { /* closing anyway */ } // unread bytes would make the peer see a reset
      this.sendSocket({ t: 'bye' }); // closed now: a failure is not reported
    }
    const closedError = new ChannelClosedError(reason, error?.message);
    this.rejectQueued(closedError);
    for (const entry of this.inflight.values()) {
      entry.exposure?.release();
      entry.reject?.(closedError);
    }
    this.inflight.clear();
    for (const w of this.writableWaiters) w();
    this.writableWaiters = [];
    pollClose(this.sockWatch.handle);
    if (this.doorbell) pollClose(this.doorbell);
    if (this.busyTimer) clearImmediate(this.busyTimer);
    this.probeExposure.release();
    sockShutdown(this.sock, 2);
    // Unmap after the current stack: a listener may still hold the ring's views.
    setImmediate(() => {
      this.isClosedAndUnmapped = true;
      unpublished.delete(this);
      shmUnmap(this.segment.buffer);
      for (const arena of this.arenas) arena.close();
      for (const arena of this.peerArenas.values()) arena.close();
      this.arenas.length = 0;
      this.peerArenas.clear();
      for (const fd of [this.sock, this.selfEfd, this.peerEfd, this.segment.fd]) if (fd >= 0) fdClose(fd);
      for (const fd of this.pendingFds.values()) fdClose(fd);
      this.pendingFds.clear();
      this.closedResolve();
      this.emit('close', this.closeReason, this.closeError);
    });
  }

  private applyRef(): void {
    if (this.isClosed()) return;
    pollRef(this.sockWatch.handle, this.refed);
    if (this.doorbell) pollRef(this.doorbell, this.refed);
    if (this.busyTimer) {
      if (this.refed) this.busyTimer.ref(); else this.busyTimer.unref();
    }
  }
}
