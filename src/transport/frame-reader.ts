// Splits a byte stream into whole D-Bus messages using frameLength (the first
// 16 bytes give the total length). Bytes are received straight into a reused
// buffer that starts small and grows to its capacity once reads fill it (a
// reader made with `shareIdle` has none until a read ends inside a message: it
// reads into one buffer shared by all such readers, so idle connections cost
// no buffer); many messages per read come out as exact-size
// copies (or views); a message over half the capacity gets its own buffer
// (from the large-frame pool when borrowing: its owner may give it back).
import { ProtocolError } from '../errors.js';
import { frameLength } from '../wire/frame-length.js';
import { MAX_MESSAGE_LENGTH } from '../wire/limits.js';
import { largeFrames } from './buffer-pool.js';

const EMPTY = Buffer.alloc(0);
/** The receive buffer shared by readers with nothing buffered (made on first use). */
const SHARED_BYTES = 64 * 1024;
let shared: Buffer | undefined;

/** Receive into `region()`, `commit(n)`, then take messages with `next()` until it returns null. */
export class FrameReader {
  /**
   * Where bytes are read into: `own`, or the shared buffer while `onShared`.
   * A Buffer, so that borrowed frames are Buffers (the decoder reads them without wrapping each).
   */
  private rx: Buffer;
  private own: Buffer | null = null;
  private onShared = false;
  private readonly shareIdle: boolean;
  private readonly initialBytes: number;
  private start = 0;
  private end = 0;
  private big: Uint8Array | null = null;
  private bigFilled = 0;
  /** `own` was made only to hold pushed bytes (a handshake's leftover): dropped once they are taken. */
  private ownForPush = false;
  /** Messages longer than this throw ProtocolError('MESSAGE_TOO_LONG'). */
  maxMessageBytes: number;
  /**
   * next() returns views of the receive buffer instead of copies: valid only
   * until the next region()/commit(), for owners that decode each message at
   * once and keep nothing of its bytes.
   */
  borrow = false;

  private readonly capacity: number;
  private filled = false;

  /**
   * `shareIdle`: read into the process's shared buffer while nothing is
   * buffered; the owner must call detach() whenever it stops taking messages
   * with bytes left (next() does it when it returns null).
   */
  constructor(capacityBytes = 256 * 1024, maxMessageBytes = MAX_MESSAGE_LENGTH, initialBytes = 1024, shareIdle = false) {
    this.capacity = capacityBytes;
    this.initialBytes = Math.min(initialBytes, capacityBytes);
    this.shareIdle = shareIdle;
    if (shareIdle) this.rx = EMPTY;
    else this.rx = this.own = Buffer.allocUnsafeSlow(this.initialBytes);
    this.maxMessageBytes = maxMessageBytes;
  }

  /** Moves the unread bytes into an own buffer of `size` (>= what they need). */
  private resize(size: number): void {
    const rx = Buffer.allocUnsafeSlow(size);
    rx.set(this.rx.subarray(this.start, this.end));
    this.end -= this.start;
    this.start = 0;
    this.rx = this.own = rx;
    this.onShared = false;
    this.ownForPush = false;
  }

  /**
   * Moves bytes left in the shared buffer into this reader's own (made now if
   * needed), so that other readers may read into the shared one.
   */
  detach(): void {
    if (!this.onShared) return;
    this.onShared = false;
    const n = this.end - this.start;
    if (n === 0) {
      this.start = this.end = 0;
      this.rx = this.own ?? EMPTY;
      return;
    }
    if (this.own && this.own.length >= 2 * n) {
      this.own.set(this.rx.subarray(this.start, this.end));
      this.rx = this.own;
      this.start = 0;
      this.end = n;
    } else {
      // Room for the message begun (its length is known from 16 bytes on) and more.
      const want = n >= 16 ? frameLength(this.rx, this.start) : 0;
      this.resize(Math.max(this.initialBytes, want <= this.capacity >>> 1 ? want : 0, n * 2));
    }
  }

  /** Messages longer than this always get their own buffer (never a view of the reused one). */
  get ownedFrameBytes(): number {
    return this.capacity >>> 1;
  }

  /** Bytes received but not yet returned as messages. */
  get bufferedBytes(): number {
    return this.big ? this.bigFilled : this.end - this.start;
  }

  /** The region to receive into next (never empty). */
  region(): Uint8Array {
    if (this.big) return this.big.subarray(this.bigFilled);
    if (this.onShared) this.detach();
    if (this.shareIdle && this.own === null && this.start === this.end) {
      shared ??= Buffer.allocUnsafeSlow(SHARED_BYTES);
      this.rx = shared;
      this.onShared = true;
      this.start = this.end = 0;
      this.filled = false;
      return shared;
    }
    if (this.filled && this.rx.length < this.capacity) this.resize(Math.min(this.rx.length * 4, this.capacity));
    else if (this.end === this.rx.length) this.compact();
    this.filled = false;
    return this.rx.subarray(this.end);
  }

  /** Records that `n` bytes were received into the last region. */
  commit(n: number): void {
    if (this.big) this.bigFilled += n;
    else {
      this.end += n;
      // A read that filled the buffer says traffic is heavy: grow before the next one.
      this.filled = !this.onShared && this.end === this.rx.length;
    }
  }

  /** Copies `bytes` in (for transports that hand out their own buffers). */
  push(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length) {
      const r = this.region();
      const n = Math.min(r.length, bytes.length - off);
      r.set(bytes.subarray(off, off + n));
      this.commit(n);
      off += n;
      // A full region must be drained by next() before more fits.
      if (off < bytes.length && this.region().length === 0) throw new Error('FrameReader.push: drain with next() first');
    }
    // The bytes may wait for a later next(): not in the shared buffer.
    const hadOwn = this.own !== null;
    this.detach();
    // A sharing reader goes back to the shared buffer once these bytes are taken.
    if (this.shareIdle && !hadOwn && this.own !== null) this.ownForPush = true;
  }

  /** The next whole message (its own copy), or null when more bytes are needed. Throws ProtocolError on a bad header. */
  next(): Uint8Array | null {
    const frame = this.take();
    if (frame === null && this.onShared) this.detach();
    return frame;
  }

  private take(): Uint8Array | null {
    if (this.big) {
      if (this.bigFilled < this.big.length) return null;
      const frame = this.big;
      this.big = null;
      this.bigFilled = 0;
      return frame;
    }
    const available = this.end - this.start;
    if (available === 0) {
      this.start = this.end = 0;
      if (this.ownForPush) {
        this.ownForPush = false;
        this.rx = EMPTY;
        this.own = null;
      }
      return null;
    }
    if (available < 16) {
      if (this.start + 16 > this.rx.length) this.compact();
      return null;
    }
    // frameLength reads only the 16 bytes at `start`, all present: no view of the filled part needed.
    const len = frameLength(this.rx, this.start);
    if (len > this.maxMessageBytes) {
      throw new ProtocolError('MESSAGE_TOO_LONG', `message of ${len} bytes exceeds this bus's ${this.maxMessageBytes}-byte limit`);
    }
    if (available >= len) {
      let frame: Uint8Array;
      if (len > this.capacity >>> 1) {
        // Large messages are never views, even when borrowing: their owner may keep them.
        frame = this.ownBuffer(len);
        frame.set(this.rx.subarray(this.start, this.start + len));
      } else if (this.borrow) frame = this.rx.subarray(this.start, this.start + len);
      else {
        // A plain Uint8Array copy (Buffer's slice() would be a view).
        frame = new Uint8Array(len);
        frame.set(this.rx.subarray(this.start, this.start + len));
      }
      this.start += len;
      if (this.start === this.end) this.start = this.end = 0;
      return frame;
    }
    if (len > this.capacity >>> 1) {
      // Received straight into a buffer of exactly its length.
      this.big = this.ownBuffer(len);
      this.big.set(this.rx.subarray(this.start, this.end));
      this.bigFilled = available;
      this.start = this.end = 0;
    } else if (len > this.rx.length) {
      this.resize(Math.min(Math.max(len, this.rx.length * 4), this.capacity));
    } else if (this.start + len > this.rx.length) {
      this.compact();
    }
    return null;
  }

  /**
   * A large message's own buffer: from the large-frame pool when borrowing
   * (such owners keep no bytes and give large frames back once sent), else fresh.
   */
  private ownBuffer(len: number): Uint8Array {
    return this.borrow ? largeFrames.acquire(len) : new Uint8Array(len);
  }

  private compact(): void {
    if (this.onShared) {
      this.detach();
      return;
    }
    this.rx.copyWithin(0, this.start, this.end);
    this.end -= this.start;
    this.start = 0;
  }
}
