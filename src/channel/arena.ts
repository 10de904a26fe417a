// A payload arena: a memfd of one direction of a channel, mapped once by
// both ends, where the sender copies large payloads (one copy) and the
// receiver reads them in place. Extents are taken in FIFO order, like a ring
// of bytes, and released in the same order when the receiver acknowledges
// their tokens (the ring's `acked` word), so no shared allocator state exists:
//
//   [ released | live extents ... | free ][ skipped tail at a wrap ]
//
// The file is sealed against shrinking and growing, so the receiver's
// mapping can never lose pages under it; the receiver checks every
// {offset, length} against the size it mapped.
import { F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK, check, fdClose, memfdOpen, memfdSeal, memfdTruncate, shmMap, shmUnmap } from '../native/native.js';

/** Extents start on a cache line. */
const ALIGN_BYTES = 64;
const PAGE_BYTES = 4096;

/** The largest arena (offsets and lengths stay exact in both ends' arithmetic). */
export const MAX_ARENA_BYTES = 1 << 30;

/** The sender's view of one arena: its mapping and a FIFO extent allocator. */
export class PayloadArena {
  readonly id: number;
  readonly sizeBytes: number;
  readonly u8: Uint8Array;
  /** Bytes the last allocate() consumed (the extent plus any tail skipped at a wrap). */
  consumedBytes = 0;
  private readonly buffer: ArrayBuffer;
  private head = 0;
  private used = 0;

  private constructor(id: number, buffer: ArrayBuffer) {
    this.id = id;
    this.buffer = buffer;
    this.sizeBytes = buffer.byteLength;
    this.u8 = new Uint8Array(buffer);
  }

  /**
   * Creates, seals and maps an arena of at least `sizeBytes` (rounded up to
   * pages). Returns it with the fd to pass to the peer (the caller closes it).
   * Its pages are not touched here: the first payload copied into a page
   * faults it in (each page once for the arena's life), so a first payload
   * costs the faults of its own extent, not of the whole arena (twice its size).
   */
  static open(id: number, sizeBytes: number): { arena: PayloadArena; fd: number } {
    const size = Math.ceil(sizeBytes / PAGE_BYTES) * PAGE_BYTES;
    if (!(size > 0 && size <= MAX_ARENA_BYTES)) throw new RangeError(`payload arena of ${sizeBytes} bytes is out of range (1..${MAX_ARENA_BYTES})`);
    const fd = check(memfdOpen('fastbus-arena', true), 'memfd_create');
    try {
      check(memfdTruncate(fd, size), 'ftruncate');
      check(memfdSeal(fd, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 'fcntl', 'F_ADD_SEALS');
      return { arena: new PayloadArena(id, shmMap(fd, size, true)), fd };
    } catch (e) {
      fdClose(fd);
      throw e;
    }
  }

  /** True when an extent of `length` bytes can be taken now. */
  fits(length: number): boolean {
    return this.place(length) >= 0;
  }

  /** True when nothing is outstanding. */
  get isIdle(): boolean {
    return this.used === 0;
  }

  /** Takes an extent of `length` bytes; its offset, or -1 when the arena is too full now. */
  allocate(length: number): number {
    const at = this.place(length);
    if (at < 0) return -1;
    const need = (length + ALIGN_BYTES - 1) & ~(ALIGN_BYTES - 1);
    this.consumedBytes = at === this.head ? need : this.sizeBytes - this.head + need;
    this.used += this.consumedBytes;
    this.head = at + need;
    return at;
  }

  /** Gives back the oldest outstanding extent (what its allocate() consumed). */
  release(consumedBytes: number): void {
    this.used -= consumedBytes;
    if (this.used === 0) this.head = 0;
  }

  /** Unmaps the arena (the peer keeps its own mapping until it closes). */
  close(): void {
    shmUnmap(this.buffer);
  }

  private place(length: number): number {
    const need = (length + ALIGN_BYTES - 1) & ~(ALIGN_BYTES - 1);
    const free = this.sizeBytes - this.used;
    if (need > free) return -1;
    if (this.sizeBytes - this.head >= need) return this.head;
    // Wrap: the tail after head is skipped, the extent starts at 0.
    return this.sizeBytes - this.head + need <= free ? 0 : -1;
  }
}

/** The receiver's view of one of the peer's arenas. */
export class PeerArena {
  readonly buffer: ArrayBuffer;
  readonly sizeBytes: number;

  /** Maps the arena fd the peer passed (and closes the fd). */
  constructor(fd: number, sizeBytes: number) {
    try {
      this.buffer = shmMap(fd, sizeBytes, true);
    } finally {
      fdClose(fd);
    }
    // Pages are mapped in by the first read of each (the sender's copy faulted them in already): touching
    // them all here would make the pages of an arena's unused half exist only to be read.
    this.sizeBytes = sizeBytes;
  }

  close(): void {
    shmUnmap(this.buffer);
  }
}
