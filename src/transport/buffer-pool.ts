// Reuses the buffers of large messages. A fresh buffer of a few MiB costs a
// page fault and a page clear per 4 KiB on first write (more than the copy
// itself); a buffer that was written once and given back costs neither.
// Buffers come in power-of-two classes; the idle pool is bounded and emptied
// after a quiet period, so a burst of large messages does not pin memory.

/** Smallest class (smaller buffers are cheap to allocate fresh). */
const MIN_CLASS_BYTES = 64 * 1024;
/** Idle bytes the pool keeps at most. */
const MAX_IDLE_BYTES = 64 * 1024 * 1024;
/** An idle pool unused for this long is dropped. */
const IDLE_MS = 2000;

function classOf(sizeBytes: number): number {
  let c = MIN_CLASS_BYTES;
  while (c < sizeBytes) c *= 2;
  return c;
}

/** A bounded pool of large ArrayBuffers, by power-of-two class. */
export class BufferPool {
  private readonly idle = new Map<number, ArrayBuffer[]>();
  private idleBytes = 0;
  private used = false;
  private timer: ReturnType<typeof setInterval> | undefined;

  /** Bytes held idle now. */
  get idleSizeBytes(): number {
    return this.idleBytes;
  }

  /** A buffer of exactly `sizeBytes` (a view at offset 0 of a pooled or fresh ArrayBuffer). */
  acquire(sizeBytes: number): Uint8Array {
    const c = classOf(sizeBytes);
    const list = this.idle.get(c);
    const ab = list?.pop();
    if (ab) {
      this.idleBytes -= c;
      this.used = true;
      return new Uint8Array(ab, 0, sizeBytes);
    }
    return new Uint8Array(new ArrayBuffer(c), 0, sizeBytes);
  }

  /**
   * Gives back a buffer from acquire() that nothing references any more.
   * Buffers of other shapes, or beyond the idle bound, are left to the GC.
   */
  release(bytes: Uint8Array): void {
    const ab = bytes.buffer;
    const c = ab.byteLength;
    if (bytes.byteOffset !== 0 || c < MIN_CLASS_BYTES || c !== classOf(c) || !(ab instanceof ArrayBuffer)) return;
    if (this.idleBytes + c > MAX_IDLE_BYTES) return;
    let list = this.idle.get(c);
    if (!list) this.idle.set(c, (list = []));
    list.push(ab);
    this.idleBytes += c;
    this.used = true;
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), IDLE_MS);
      this.timer.unref();
    }
  }

  /** Drops every idle buffer. */
  clear(): void {
    this.idle.clear();
    this.idleBytes = 0;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private sweep(): void {
    if (this.used) this.used = false;
    else this.clear();
  }
}

/** The process's pool for received messages too large for a stream's reused buffer. */
export const largeFrames = new BufferPool();
