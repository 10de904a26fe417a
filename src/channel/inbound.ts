// The receiving side of a channel end: drains the inbound ring in batches,
// decodes each frame (bytes, JSON, structured clone) and emits it as a
// 'message' (with the handles passed with it, if any), hands large-payload
// frames to their path, and gives room and acknowledgements back to the sender.
import v8 from 'node:v8';
import { ProtocolError } from '../errors.js';
import type { ChannelCore } from './channel-core.js';
import { KIND_ADVANCED, KIND_ARENA_PIECE, KIND_BYTES, KIND_CHUNK, KIND_HANDLES, KIND_JSON } from './frame-kinds.js';
import type { LargePayloads } from './large-payloads.js';
import type { PassedHandles } from './passed-handles.js';
import { receivePool } from './receive-pool.js';
import type { RingReader } from './ring.js';

/** A buffer of exactly `length` bytes, not zeroed, in memory of its own (never a pool slice). */
export function ownedBytes(length: number): Uint8Array {
  return new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
}

export class Inbound {
  /** The large-payload paths (set once made: they need this side). */
  large!: LargePayloads;
  /** Handles passed with messages (set once made: it needs this side). */
  handles!: PassedHandles;
  /** drain() stopped early so that the event loop turns before the rest (see ReceivePool.dry); cleared by the loop. */
  turnWanted = false;
  /** The length of the last payload lent from the receive pool (0: none since drain() looked). */
  private pooledLength = 0;
  private scratch: Uint8Array = new Uint8Array(0);
  private readonly reader: RingReader;
  /** Byte messages up to this size are handed out as views (ChannelSettings.viewsMaxBytes). */
  private readonly viewsMax: number;

  constructor(private readonly core: ChannelCore) {
    this.reader = core.reader;
    this.viewsMax = core.settings.viewsMaxBytes;
  }

  /**
   * Delivers every frame in the ring (and what arrives meanwhile) while someone listens and the
   * channel is not paused; with `one`, returns after the first message it delivers.
   */
  drain(one = false): void {
    const core = this.core;
    const reader = this.reader;
    // Without a listener, messages wait in the ring (and the sender waits) rather than being lost.
    if (!core.hasListener()) return;
    if (this.collectWanted) {
      // A turn after the last payload was delivered: nothing on the stack holds it any more.
      this.collectWanted = false;
      receivePool.collect();
    }
    const stats = core.stats;
    const received = stats.messagesReceived;
    while (!core.paused && !this.turnWanted && reader.refresh()) {
      let kind: number;
      try {
        while ((kind = reader.next()) !== -1) {
          this.dispatch(kind, reader.offset, reader.length);
          // Once the payload is delivered (not after a piece of it).
          if (this.pooledLength > 0 && !this.large.assembling) this.afterPooled();
          if (core.paused || core.isClosed() || this.turnWanted || (one && stats.messagesReceived !== received)) break;
          // A chunk is copied out: its room goes back at once, so the sender refills while we copy.
          if (kind === KIND_CHUNK && reader.release()) core.ring();
        }
      } finally {
        if (!core.isClosed() && reader.release()) core.ring();
      }
      if (core.isClosed() || (one && stats.messagesReceived !== received)) return;
    }
  }

  private collectWanted = false;

  /** After a payload landed in the receive pool: whether to have V8 collect before the next (ReceivePool.collectWanted). */
  private afterPooled(): void {
    const length = this.pooledLength;
    this.pooledLength = 0;
    if (!receivePool.collectWanted(length)) return;
    this.collectWanted = true;
    this.turnWanted = true; // the slabs come back on the next turn
  }

  private dispatch(kind: number, at: number, length: number): void {
    const core = this.core;
    if (kind !== KIND_CHUNK && this.large.chunks.assembling) {
      throw new ProtocolError('CORRUPT_SEGMENT', `corrupt channel ring: frame kind ${kind} in the middle of a chunked payload`);
    }
    if (kind !== KIND_ARENA_PIECE && this.large.pieces.assembling) {
      throw new ProtocolError('CORRUPT_SEGMENT', `corrupt channel ring: frame kind ${kind} in the middle of a payload sent in pieces`);
    }
    switch (kind) {
      case KIND_BYTES:
        core.stats.messagesReceived++;
        this.emit(length <= this.viewsMax ? new Uint8Array(core.segment.buffer, at, length) : core.u8.slice(at, at + length));
        return;
      case KIND_JSON:
        core.stats.messagesReceived++;
        this.emit(this.decodeJson(core.text.toString('utf8', at, at + length)));
        return;
      case KIND_ADVANCED:
        core.stats.messagesReceived++;
        // A copy: the value's typed arrays are views of the bytes it is decoded from (v8.deserialize).
        this.emit(this.decodeAdvanced(core.u8.slice(at, at + length)));
        return;
      case KIND_HANDLES:
        return this.handles.receive(at, length);
    }
    this.large.receive(kind, at, length);
  }

  /** Emits a message, with the handles passed with it as the second argument. */
  private emit(value: unknown): void {
    if (!this.handles.hasPending) this.core.events.emit('message', value);
    else this.core.events.emit('message', value, this.handles.take());
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

  /**
   * Where a large payload of `length` bytes is received: in views mode (up to
   * viewsMaxBytes), byte messages land in one reused buffer (valid until the
   * listener returns, as every view); otherwise in a buffer the listener owns,
   * from the process's receive pool (memory already faulted in) or, when the
   * pool is full, new.
   */
  landing(kind: number, length: number): Uint8Array;
  /**
   * With `mayWait`: or null when the frame being received should rather be
   * read again after an event-loop turn, because the receive pool is about to
   * get a slab back (ReceivePool.waitWanted); the frame is put back then.
   */
  landing(kind: number, length: number, mayWait: true): Uint8Array | null;
  landing(kind: number, length: number, mayWait = false): Uint8Array | null {
    if (!(kind === KIND_BYTES && length <= this.viewsMax)) {
      // Not once the peer hung up: what it sent is delivered without waiting, then the channel closes.
      if (mayWait && !this.core.hungUp && receivePool.waitWanted(length)) {
        this.reader.unread();
        this.turnWanted = true;
        return null;
      }
      const pooled = receivePool.take(length);
      if (receivePool.dry) this.turnWanted = true;
      if (pooled !== null) this.pooledLength = length;
      return pooled ?? ownedBytes(length);
    }
    if (this.scratch.byteLength < length) this.scratch = ownedBytes(length);
    return this.scratch.subarray(0, length);
  }

  /**
   * Whether a large payload of this kind may be decoded or handed out from
   * memory the channel takes back once the listener returns (an arena extent,
   * a mapping): byte messages in views mode, and JSON (its text is copied).
   * Not a structured clone: its typed arrays would be views of that memory.
   */
  borrows(kind: number, length: number): boolean {
    return kind === KIND_JSON || (kind === KIND_BYTES && length <= this.viewsMax);
  }

  /** Decodes a received large payload and emits it (a structured clone's typed arrays stay views of `bytes`). */
  deliverLarge(kind: number, bytes: Uint8Array): void {
    const core = this.core;
    core.stats.messagesReceived++;
    if (kind === KIND_BYTES) this.emit(bytes);
    else if (kind === KIND_JSON) this.emit(this.decodeJson(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')));
    else if (kind === KIND_ADVANCED) this.emit(this.decodeAdvanced(bytes));
    else throw new ProtocolError('CORRUPT_SEGMENT', `large payload of unknown kind ${kind}`);
  }

  /** Tells the sender its large payload `token` (and every one before) is done with. */
  acknowledge(token: number): void {
    if (this.reader.acknowledge(token)) this.core.ring();
  }
}
