// Where a large payload lands when the listener is to own it (default
// options): memory mapped and faulted in once, then lent again and again. A
// fresh buffer per payload costs a page fault and a zero-fill per 4 KiB page,
// several times the copy itself; a slab of this pool is already there.
// Each payload gets a new ArrayBuffer over a slab, the listener's for as long
// as it holds it; the slab is lent again only once V8 has freed that
// ArrayBuffer (the addon counts them: anonLent), and is never unmapped under
// it. One pool per process, shared by its channels. Bounded: at most
// `maxBytes` mapped (lent and free together); beyond that, and for payloads
// larger than a quarter of it, a plain new buffer. Free slabs unused for
// `idleMs` are unmapped. See docs/channel.md, "Large payloads".
import { markAsUntransferable } from 'node:worker_threads';
import { SystemError } from '../errors.js';
import { EBUSY, MADV_POPULATE_WRITE, anonAdvise, anonLend, anonLent, anonMap, anonUnmap, type AnonRegion } from '../native/native.js';

const STEP_BYTES = 2 << 20;
const MIN_SLAB_BYTES = 64 << 10;

/** Default bound on what the process-wide pool maps (lent and free slabs together). */
export const RECEIVE_POOL_MAX_BYTES = 1 << 30;
/** Free slabs unused this long are unmapped. */
export const RECEIVE_POOL_IDLE_MS = 2000;

interface Slab {
  region: AnonRegion;
  sizeBytes: number;
  /** When it was last lent (performance.now()). */
  lentAt: number;
}

/** What a pool holds now. */
export interface ReceivePoolStats {
  /** Bytes mapped (lent and free slabs). */
  mappedBytes: number;
  slabs: number;
  /** Slabs no buffer is lent over now. */
  free: number;
  /** Payloads that landed in a slab (a new one or one lent before). */
  lends: number;
  /** Of those, in a slab lent before (no page faults). */
  reuses: number;
  /** Payloads that got a plain new buffer (the pool was full, or the payload too large for it). */
  misses: number;
}

/** The slab size for a payload: a power of two up to 2 MiB, whole 2 MiB steps above. */
export function slabBytesFor(length: number): number {
  if (length > STEP_BYTES) return Math.ceil(length / STEP_BYTES) * STEP_BYTES;
  let size = MIN_SLAB_BYTES;
  while (size < length) size *= 2;
  return size;
}

export class ReceivePool {
  private readonly slabs: Slab[] = [];
  /** Where the next search for a free slab starts: the slab after the last one lent (the oldest lent are likeliest free). */
  private cursor = 0;
  private mapped = 0;
  private lends = 0;
  private reuses = 0;
  private misses = 0;
  private trimTimer: NodeJS.Timeout | null = null;
  /**
   * The last take found no free slab (it mapped one, or missed). Slabs come back only once V8 has
   * freed what was lent over them, which takes event-loop turns after a
   * collection: a receiver that found the pool dry lets the loop turn before
   * the next payload rather than drain them all in one go.
   */
  dry = false;

  /**
   * @param maxBytes what the pool may map, lent and free slabs together (settable: tests lower it)
   * @param idleMs free slabs not lent for this long are unmapped (0: only by trim())
   */
  constructor(public maxBytes: number = RECEIVE_POOL_MAX_BYTES, readonly idleMs: number = RECEIVE_POOL_IDLE_MS) {}

  /**
   * A buffer of exactly `length` bytes the caller owns (its contents are
   * whatever the slab held last: the caller overwrites all of it), or null
   * when the pool cannot hold it (then allocate a plain one).
   */
  take(length: number): Uint8Array | null {
    const size = slabBytesFor(length);
    if (size > this.maxBytes / 4) {
      this.misses++;
      return null;
    }
    let slab = this.findFree(length, size);
    this.dry = slab === null;
    slab ??= this.mapSlab(size);
    if (slab === null) {
      this.misses++;
      return null;
    }
    const ab = anonLend(slab.region, length);
    // A transferred buffer would be detached here while the slab went on being lent: forbid it.
    markAsUntransferable(ab);
    slab.lentAt = performance.now();
    this.lends++;
    return new Uint8Array(ab);
  }

  /** A free slab that holds `length` bytes without wasting more than half of it, searching from the cursor. */
  private findFree(length: number, size: number): Slab | null {
    const slabs = this.slabs;
    const n = slabs.length;
    for (let k = 0; k < n; k++) {
      const i = (this.cursor + k) % n;
      const slab = slabs[i];
      if (slab.sizeBytes >= length && slab.sizeBytes <= 2 * size && anonLent(slab.region) === 0) {
        this.cursor = (i + 1) % n;
        this.reuses++;
        return slab;
      }
    }
    return null;
  }

  /** Maps and faults in a new slab of `size` bytes, first unmapping free slabs if the bound needs it; null if it cannot. */
  private mapSlab(size: number): Slab | null {
    if (this.mapped + size > this.maxBytes) this.unmapFree(() => this.mapped + size > this.maxBytes);
    if (this.mapped + size > this.maxBytes) return null;
    let region: AnonRegion;
    try {
      region = anonMap(size);
    } catch (e) {
      if (!(e instanceof SystemError)) throw e;
      return null; // out of memory or address space: a plain buffer will say so if it matters
    }
    // Every page faulted in now, in one call, rather than one fault at a time during the first
    // copy. An optimisation only: a kernel without MADV_POPULATE_WRITE (before 5.14) faults them then.
    // (Huge pages, MADV_HUGEPAGE, were measured and left out: on the 2-vCPU VMs this was built on,
    // a process's first 64 MiB of huge pages took 0.9-1.7 s to fault in, against 50-210 ms in 4 KiB
    // pages; later ones 15 ms against 65 ms. A receiver's first slabs are the ones that matter.)
    anonAdvise(region, MADV_POPULATE_WRITE);
    const slab = { region, sizeBytes: size, lentAt: 0 };
    this.slabs.push(slab);
    this.mapped += size;
    this.cursor = this.slabs.length - 1;
    this.scheduleTrim();
    return slab;
  }

  /** Unmaps free slabs (oldest lent first) while `more()` says so. */
  private unmapFree(more: () => boolean): void {
    const byAge = [...this.slabs].sort((a, b) => a.lentAt - b.lentAt);
    for (const slab of byAge) {
      if (!more()) return;
      if (anonLent(slab.region) !== 0) continue;
      this.unmap(slab);
    }
  }

  private unmap(slab: Slab): void {
    const r = anonUnmap(slab.region);
    if (r === -EBUSY) return; // lent meanwhile: cannot happen on this thread, and never unmaps under a buffer
    this.slabs.splice(this.slabs.indexOf(slab), 1);
    this.mapped -= slab.sizeBytes;
    this.cursor = 0;
  }

  /** Unmaps the free slabs not lent for `olderThanMs` (every free slab with 0). */
  trim(olderThanMs: number = this.idleMs): void {
    const before = performance.now() - olderThanMs;
    for (const slab of [...this.slabs]) {
      if (slab.lentAt <= before && anonLent(slab.region) === 0) this.unmap(slab);
    }
  }

  private scheduleTrim(): void {
    if (this.trimTimer !== null || this.idleMs <= 0) return;
    this.trimTimer = setInterval(() => {
      this.trim();
      if (this.slabs.length === 0 && this.trimTimer !== null) {
        clearInterval(this.trimTimer);
        this.trimTimer = null;
      }
    }, this.idleMs);
    this.trimTimer.unref();
  }

  get stats(): ReceivePoolStats {
    const free = this.slabs.filter((slab) => anonLent(slab.region) === 0).length;
    return { mappedBytes: this.mapped, slabs: this.slabs.length, free, lends: this.lends, reuses: this.reuses, misses: this.misses };
  }
}

/** The pool every channel of this process lands owned large payloads in. */
export const receivePool = new ReceivePool();
