// The sending side of a channel end: writes small messages into the outbound
// ring, publishes them in batches, queues what must wait (a full ring waits,
// never drops), hands large payloads to their path and keeps them in flight
// until the peer acknowledges them (tokens are acknowledged in order).
import v8 from 'node:v8';
import type { ExposedBuffer } from '../cma/index.js';
import type { PayloadArena } from './arena.js';
import type { ChannelCore } from './channel-core.js';
import type { OutgoingHandles } from './handles.js';
import type { LargePayloads } from './large-payloads.js';
import type { PassedHandles } from './passed-handles.js';
import { frameBytes, type RingWriter } from './ring.js';

/** A send that waits for room, in order. */
export interface Queued {
  kind: number;
  payload: Uint8Array | string;
  resolve: (() => void) | null;
  reject: ((e: Error) => void) | null;
  /** The fds and handles the message carries. */
  handles?: OutgoingHandles | null;
}

/** A large payload the peer has not acknowledged yet. */
export interface InFlight {
  exposure: ExposedBuffer | null;
  /** For an arena payload: its arena and the bytes its extent consumed there. */
  arena: PayloadArena | null;
  consumedBytes: number;
  resolve: (() => void) | null;
  reject: ((e: Error) => void) | null;
}

/**
 * 1: written; 0: no room (or must wait); 2: a queued large payload in
 * flight; a Promise: an unqueued large payload in flight.
 */
export type WriteResult = 0 | 1 | 2 | Promise<void>;

export const MAX_LARGE_IN_FLIGHT = 64;

// Small frames are published (tail stored, sleeper rung) once per 32, and at
// the end of the current synchronous run (a microtask), not one by one.
const PUBLISH_EVERY = 32;
const unpublished = new Set<Outbound>();
let publishQueued = false;

/** Publishes what every channel of this process appended and has not published yet. */
export function publishAll(): void {
  publishQueued = false;
  if (unpublished.size === 0) return;
  for (const out of unpublished) out.publishNow();
  unpublished.clear();
}

export class Outbound {
  readonly queue: Queued[] = [];
  readonly inflight = new Map<number, InFlight>();
  writableWaiters: Array<() => void> = [];
  /** The large-payload paths (set once made: they need this side). */
  large!: LargePayloads;
  /** Handles passed with messages (set once made: it needs this side). */
  handles!: PassedHandles;
  /** Called when acknowledgements were collected (a closing channel may finish). */
  onAcked: () => void = () => {};
  /** Runs the channel's loop soon (after a doorbell was armed that may already have been rung). */
  schedule: () => void = () => {};
  /** Why the head large payload waits: for the CMA verdict, for in-flight slots, or for arena room. */
  largeBlocked: '' | 'verdict' | 'inflight' | 'arena' = '';
  private arenaWaitBytes = 0;
  private nextToken = 1;
  private appended = 0;
  private readonly writer: RingWriter;
  private readonly u8: Uint8Array;
  private readonly text: Buffer;
  private readonly busy: boolean;
  private readonly threshold: number;

  constructor(private readonly core: ChannelCore) {
    this.writer = core.writer;
    this.u8 = core.u8;
    this.text = core.text;
    this.busy = core.settings.busy;
    this.threshold = core.settings.threshold;
  }

  encodeValue(value: unknown): Uint8Array | string {
    if (this.core.settings.json) {
      const s = JSON.stringify(value);
      if (s === undefined) throw new TypeError(`cannot send ${typeof value} as JSON`);
      return s;
    }
    return v8.serialize(value);
  }

  write(kind: number, payload: Uint8Array | string, queued: Queued | null): WriteResult {
    if (this.handles.dropOwed && !this.handles.writeDrop()) return this.full();
    let length: number;
    if (typeof payload === 'string') {
      length = payload.length * 3;
      if (length > this.threshold) {
        length = Buffer.byteLength(payload);
        if (length > this.threshold) return this.large.send(kind, Buffer.from(payload), queued);
      }
      const at = this.writer.reserve(length);
      if (at < 0) return this.full();
      const n = this.text.write(payload, at, length, 'utf8');
      this.commit(n, kind);
      return 1;
    }
    length = payload.byteLength;
    if (length > this.threshold) return this.large.send(kind, payload, queued);
    const at = this.writer.reserve(length);
    if (at < 0) return this.full();
    this.u8.set(payload, at);
    this.commit(length, kind);
    return 1;
  }

  /**
   * write() for a message that carries handles: their frame first (once: a
   * retry after the ring was full writes only the message), then the message.
   * A message that fails after its handles went owes the peer a frame that drops them.
   */
  writeWithHandles(kind: number, payload: Uint8Array | string, queued: Queued | null, handles: OutgoingHandles): WriteResult {
    if (!handles.passed && !this.handles.send(handles)) return 0;
    try {
      return this.write(kind, payload, queued);
    } catch (e) {
      this.handles.dropOwed = true;
      this.handles.writeDrop();
      throw e;
    }
  }

  /** The ring is full: what was appended must become visible, or the consumer never frees room. */
  full(): 0 {
    this.publishNow();
    return 0;
  }

  /** Appends the frame reserved last; `counts` false for a frame that is not a whole message. */
  commit(length: number, kind: number, counts = true): void {
    if (counts) this.core.stats.messagesSent++;
    this.writer.append(length, kind);
    if (this.busy) {
      // Busy mode trades throughput for latency: every frame is visible at once.
      if (this.writer.publish()) this.core.ring();
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

  /** Publishes the frames appended so far (and rings a sleeping peer). */
  publishNow(): void {
    if (this.appended === 0 || this.core.unmapped) return;
    this.appended = 0;
    if (this.writer.publish()) this.core.ring();
  }

  /** Forgets this side in the publishing batch (its segment is going away). */
  forget(): void {
    unpublished.delete(this);
  }

  /** The token the next large payload gets (never 0). */
  peekToken(): number {
    return this.nextToken;
  }

  /** Takes the next token for a large payload now going out, and keeps `entry` until it is acknowledged. */
  track(entry: InFlight): number {
    const token = this.nextToken;
    this.nextToken = (this.nextToken + 1) >>> 0 || 1;
    this.inflight.set(token, entry);
    return token;
  }

  /** A large payload must wait (for the peer's CMA verdict, in-flight slots or arena room). */
  blockLarge(why: 'verdict' | 'inflight' | 'arena', bytes = 0): 0 {
    this.largeBlocked = why;
    this.arenaWaitBytes = bytes;
    return 0;
  }

  hasRoom(): boolean {
    switch (this.largeBlocked) {
      case 'inflight':
        if (this.inflight.size >= MAX_LARGE_IN_FLIGHT) return false;
        break;
      case 'verdict':
        if (this.core.peerCanReadMe === 'unknown') return false;
        break;
      case 'arena':
        if (!this.large.arena.fits(this.arenaWaitBytes)) return false;
        break;
    }
    this.largeBlocked = '';
    return this.queue.length === 0 &&
      this.writer.usedBytes + frameBytes(this.threshold) * 2 <= this.core.segment.ringBytes;
  }

  waitForRoom(): void {
    if (this.busy) return; // the busy loop retries on its own
    if (this.largeBlocked === 'inflight' || this.largeBlocked === 'arena') {
      // Woken by the peer's next acknowledgement, not by polling.
      if (this.writer.waitForAck(this.ackTarget())) this.schedule();
      return;
    }
    if (this.largeBlocked === 'verdict' && this.core.peerCanReadMe === 'unknown') return; // the verdict's socket message restarts us
    if (this.writer.waitForRoom(frameBytes(this.threshold))) this.schedule();
  }

  /**
   * The token to be woken at: blocked on in-flight slots, when half of them
   * are back; blocked on the arena, when half of it (at least the bytes
   * wanted) is back; otherwise at the oldest. One wake-up per batch, not per payload.
   */
  ackTarget(): number {
    let last = 0, i = 0, bytes = 0;
    const arena = this.largeBlocked === 'arena' ? this.large.arena.newest : null;
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
  collectAcks(): void {
    if (this.inflight.size === 0) return;
    const acked = this.writer.acked();
    for (const [token, entry] of this.inflight) {
      if (((acked - token) | 0) < 0) break;
      this.inflight.delete(token);
      entry.exposure?.release();
      entry.arena?.release(entry.consumedBytes);
      entry.resolve?.();
    }
    this.onAcked();
  }

  /** Settles acknowledged payloads, then writes queued sends, in order, while there is room. */
  flush(): void {
    this.collectAcks();
    while (this.queue.length > 0 && this.core.state === 'open') {
      const q = this.queue[0];
      let r: WriteResult;
      try {
        r = q.handles ? this.writeWithHandles(q.kind, q.payload, q, q.handles) : this.write(q.kind, q.payload, q);
      } catch (e) {
        this.queue.shift();
        q.reject?.(e as Error);
        continue;
      }
      if (r === 0) {
        if (this.largeBlocked !== 'verdict' || this.core.peerCanReadMe !== 'unknown') this.waitForRoom();
        return;
      }
      this.queue.shift();
      if (r === 1) q.resolve?.();
    }
    if (this.writableWaiters.length > 0 && this.hasRoom()) {
      this.wakeWritable();
    } else if (this.writableWaiters.length > 0) {
      this.waitForRoom();
    }
  }

  /** Resolves every whenWritable() waiting. */
  wakeWritable(): void {
    const waiters = this.writableWaiters;
    this.writableWaiters = [];
    for (const w of waiters) w();
  }

  rejectQueued(error: Error): void {
    const q = this.queue.splice(0);
    for (const item of q) item.reject?.(error);
  }

  /** True when no in-flight payload is an exposed buffer the peer may still be reading (memfd and arena ones need no wait). */
  noneExposed(): boolean {
    for (const e of this.inflight.values()) if (e.exposure) return false;
    return true;
  }

  /** At close: releases every exposed buffer and rejects the sends still waiting for their acknowledgement. */
  abandonInFlight(error: Error): void {
    for (const entry of this.inflight.values()) {
      entry.exposure?.release();
      entry.reject?.(error);
    }
    this.inflight.clear();
  }
}
