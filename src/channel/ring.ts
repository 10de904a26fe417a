// One single-producer/single-consumer ring of frames in a channel segment.
// head and tail are byte counters that only grow (mod 2^32); a position is
// counter & (ringBytes - 1). A frame is 8-byte aligned:
//
//   [length i32][kind i32][payload: length bytes, padded to 8]
//
// A frame never wraps: when it does not fit before the end of the ring, a
// padding frame (kind 0) fills the rest and the frame starts at offset 0.
// The producer publishes tail after writing a frame; the consumer reads a
// batch up to the tail it saw and publishes head once per batch.
import { ProtocolError } from '../errors.js';
import type { RingControl, Segment } from './segment.js';

export const FRAME_HEADER_BYTES = 8;
/** Frame kind 0: padding up to the end of the ring. */
export const KIND_PAD = 0;

/** The bytes a frame with a `length`-byte payload takes in the ring. */
export function frameBytes(length: number): number {
  return FRAME_HEADER_BYTES + ((length + 7) & ~7);
}

/** What both ends of a ring know: its bytes and the indexes of its control words. */
abstract class RingEnd {
  protected readonly i32: Int32Array;
  protected readonly cap: number;
  protected readonly mask: number;
  protected readonly data: number;
  protected readonly tailAt: number;
  protected readonly headAt: number;
  protected readonly sleepingAt: number;
  protected readonly waitingAt: number;
  protected readonly ackedAt: number;
  protected readonly ackWantedAt: number;

  constructor(segment: Segment, control: RingControl) {
    this.i32 = new Int32Array(segment.buffer);
    this.cap = segment.ringBytes;
    this.mask = segment.ringBytes - 1;
    this.data = control.data;
    this.tailAt = control.tail >> 2;
    this.headAt = control.head >> 2;
    this.sleepingAt = control.consumerSleeping >> 2;
    this.waitingAt = control.producerWaiting >> 2;
    this.ackedAt = control.acked >> 2;
    this.ackWantedAt = control.ackWanted >> 2;
  }
}

/** The producing end of a ring. */
export class RingWriter extends RingEnd {
  readonly u8: Uint8Array;
  private tail: number;
  private headSeen: number;
  private pos = 0;

  constructor(segment: Segment, control: RingControl) {
    super(segment, control);
    this.u8 = new Uint8Array(segment.buffer);
    this.tail = Atomics.load(this.i32, this.tailAt);
    this.headSeen = Atomics.load(this.i32, this.headAt);
  }

  /** The largest payload a single frame can carry. */
  get maxPayloadBytes(): number {
    return this.cap - FRAME_HEADER_BYTES;
  }

  /**
   * Makes room for a frame with a payload of up to `length` bytes. Returns
   * the segment offset where the payload goes, or -1 when the ring is full.
   */
  reserve(length: number): number {
    const frame = FRAME_HEADER_BYTES + ((length + 7) & ~7);
    let pos = this.tail & this.mask;
    const toEnd = this.cap - pos;
    if (frame > toEnd) {
      if (this.cap - ((this.tail - this.headSeen) | 0) < toEnd && !this.refresh(toEnd)) return -1;
      const at = (this.data + pos) >> 2;
      this.i32[at] = toEnd - FRAME_HEADER_BYTES;
      this.i32[at + 1] = KIND_PAD;
      this.tail = (this.tail + toEnd) | 0;
      // SYNC: publishes the padding frame; pairs with the Atomics.load of tail in RingReader.refresh.
      Atomics.store(this.i32, this.tailAt, this.tail);
      pos = 0;
    }
    if (this.cap - ((this.tail - this.headSeen) | 0) < frame && !this.refresh(frame)) return -1;
    this.pos = pos;
    return this.data + pos + FRAME_HEADER_BYTES;
  }

  private refresh(bytes: number): boolean {
    // SYNC: pairs with the Atomics.store of head in RingReader.release.
    this.headSeen = Atomics.load(this.i32, this.headAt);
    return this.cap - ((this.tail - this.headSeen) | 0) >= bytes;
  }

  /**
   * Completes the frame reserved last with its real `length` (at most the
   * reserved one) and publishes it. Returns true when the consumer was asleep
   * and its doorbell must be rung (the caller rings it).
   */
  commit(length: number, kind: number): boolean {
    this.append(length, kind);
    return this.publish();
  }

  /** Completes the frame reserved last, without publishing it yet (see publish). */
  append(length: number, kind: number): void {
    const at = (this.data + this.pos) >> 2;
    this.i32[at] = length;
    this.i32[at + 1] = kind;
    this.tail = (this.tail + FRAME_HEADER_BYTES + ((length + 7) & ~7)) | 0;
  }

  /** Publishes every appended frame; true when the consumer was asleep and must be rung. */
  publish(): boolean {
    // SYNC: publishes the frames; pairs with the Atomics.load of tail in RingReader.refresh,
    // and (seq_cst) orders it before the load of consumerSleeping below, which pairs with
    // the consumer's store of consumerSleeping followed by its re-check of tail.
    Atomics.store(this.i32, this.tailAt, this.tail);
    return Atomics.load(this.i32, this.sleepingAt) === 1 && Atomics.compareExchange(this.i32, this.sleepingAt, 1, 0) === 1;
  }

  /**
   * Says the producer waits for room (the consumer rings on release), then
   * re-checks; true when room for `bytes` appeared meanwhile.
   */
  waitForRoom(bytes: number): boolean {
    // SYNC: pairs with the compareExchange of producerWaiting in RingReader.release.
    Atomics.store(this.i32, this.waitingAt, 1);
    if (this.refresh(bytes)) {
      Atomics.store(this.i32, this.waitingAt, 0);
      return true;
    }
    return false;
  }

  /** The last large-payload token the consumer acknowledged. */
  acked(): number {
    // SYNC: pairs with the Atomics.store of acked in RingReader.acknowledge.
    return Atomics.load(this.i32, this.ackedAt);
  }

  /**
   * Says the producer waits for the acknowledgement of token `wanted` (the
   * consumer rings when it acknowledges that token or a later one, not
   * before: a producer blocked on many payloads wakes once per batch), then
   * re-checks; true when it came meanwhile.
   */
  waitForAck(wanted: number): boolean {
    // SYNC: ackWanted is stored before producerWaiting; pairs with the loads in RingReader.acknowledge.
    Atomics.store(this.i32, this.ackWantedAt, wanted);
    // SYNC: pairs with the compareExchange of producerWaiting in RingReader.acknowledge.
    Atomics.store(this.i32, this.waitingAt, 1);
    if (((this.acked() - wanted) | 0) >= 0) {
      Atomics.store(this.i32, this.waitingAt, 0);
      return true;
    }
    return false;
  }

  /** Bytes written but not yet consumed. */
  get usedBytes(): number {
    return (this.tail - Atomics.load(this.i32, this.headAt)) | 0;
  }
}

/** The consuming end of a ring. */
export class RingReader extends RingEnd {
  /** Payload offset (in the segment) and length of the frame `next()` returned. */
  offset = 0;
  length = 0;
  private head: number;
  private tailSeen: number;
  /** The head before the frame next() returned last (unread() goes back to it). */
  private frameHead = 0;

  constructor(segment: Segment, control: RingControl) {
    super(segment, control);
    this.head = Atomics.load(this.i32, this.headAt);
    this.tailSeen = this.head;
  }

  /** Loads the producer's tail; true when frames are waiting. */
  refresh(): boolean {
    // SYNC: pairs with the Atomics.store of tail in RingWriter.reserve/commit.
    this.tailSeen = Atomics.load(this.i32, this.tailAt);
    return this.tailSeen !== this.head;
  }

  /**
   * The kind of the next frame up to the tail last seen (skipping padding),
   * with its payload at `offset`/`length`; -1 when there is none. A frame
   * that breaks the ring's rules throws ProtocolError('CORRUPT_SEGMENT').
   */
  next(): number {
    for (;;) {
      const avail = (this.tailSeen - this.head) | 0;
      if (avail === 0) return -1;
      const pos = this.head & this.mask;
      const at = (this.data + pos) >> 2;
      const length = this.i32[at];
      const kind = this.i32[at + 1];
      const frame = FRAME_HEADER_BYTES + ((length + 7) & ~7);
      if (length < 0 || frame > this.cap - pos || frame > avail || avail < 0 || avail > this.cap) {
        throw new ProtocolError('CORRUPT_SEGMENT', `corrupt channel ring: frame of ${length} bytes at ${pos} with ${avail} bytes published`);
      }
      this.frameHead = this.head;
      this.head = (this.head + frame) | 0;
      if (kind !== KIND_PAD) {
        this.offset = this.data + pos + FRAME_HEADER_BYTES;
        this.length = length;
        return kind;
      }
    }
  }

  /** Puts the frame next() returned last back: the next next() returns it again. */
  unread(): void {
    this.head = this.frameHead;
  }

  /**
   * Publishes the head (frames read so far are free to reuse). Returns true
   * when the producer waits for room and its doorbell must be rung.
   */
  release(): boolean {
    // SYNC: pairs with the Atomics.load of head in RingWriter.refresh; seq_cst orders it
    // before the load of producerWaiting, which pairs with RingWriter.waitForRoom.
    Atomics.store(this.i32, this.headAt, this.head);
    return Atomics.load(this.i32, this.waitingAt) === 1 && Atomics.compareExchange(this.i32, this.waitingAt, 1, 0) === 1;
  }

  /**
   * Acknowledges large payloads up to `token` (the producer may reuse their
   * buffers). Returns true when the producer waits and must be rung.
   */
  acknowledge(token: number): boolean {
    // SYNC: pairs with the Atomics.load of acked in RingWriter.acked; seq_cst orders it before
    // the load of producerWaiting, which pairs with RingWriter.waitForAck.
    Atomics.store(this.i32, this.ackedAt, token);
    if (Atomics.load(this.i32, this.waitingAt) !== 1) return false;
    // SYNC: pairs with the store of ackWanted in RingWriter.waitForAck (made before producerWaiting).
    if (((token - Atomics.load(this.i32, this.ackWantedAt)) | 0) < 0) return false;
    return Atomics.compareExchange(this.i32, this.waitingAt, 1, 0) === 1;
  }

  /**
   * Says the consumer is going to sleep, then re-checks the tail: true when
   * frames arrived meanwhile (the consumer stays awake, the flag is cleared).
   */
  sleep(): boolean {
    // SYNC: pairs with the load/compareExchange of consumerSleeping in RingWriter.commit.
    Atomics.store(this.i32, this.sleepingAt, 1);
    if (this.refresh()) {
      Atomics.store(this.i32, this.sleepingAt, 0);
      return true;
    }
    return false;
  }
}
