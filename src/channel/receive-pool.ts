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
// `idleMs` are unmapped. V8 frees a dropped buffer only when it collects,
// often several payloads later: once a receiver has used up its free slabs,
// the pool has V8 collect its young generation (collect(), after the listener
// returned) and the next payload waits a few event-loop turns for a slab to
// come back (waitWanted()) rather than fault in a new one. See
// docs/channel.md, "Large payloads".
import { markAsUntransferable } from 'node:worker_threads';
import { SystemError } from '../errors.js';
import { EBUSY, MADV_POPULATE_WRITE, anonAdvise, anonLend, anonLent, anonMap, anonUnmap, type AnonRegion } from '../native/native.js';
import { collectYoungGeneration } from './young-collection.js';

const STEP_BYTES = 2 << 20;
const MIN_SLAB_BYTES = 64 << 10;
/** A slab this large is mapped with a spare the first time (see take()). */
const SPARE_MIN_BYTES = 32 << 20;

/** Default bound on what the process-wide pool maps (lent and free slabs together). */
export const RECEIVE_POOL_MAX_BYTES = 1 << 30;
/** Free slabs unused this long are unmapped. */
export const RECEIVE_POOL_IDLE_MS = 2000;
/** The pool asks V8 to collect only once at least this much was lent since it last asked. */
export const RECEIVE_POOL_COLLECT_MIN_BYTES = 8 << 20;
/**
 * ... and only once that much would take at least twice the collection's time to fault in
 * afresh, at this rate (bytes per ms; about 1 GB/s on the VMs this was measured on).
 */
const FAULT_BYTES_PER_MS = 1e6;
/** After collect(), a payload waits this long at most (less if small) for a slab to come back before the pool maps a new one. */
export const RECEIVE_POOL_COLLECT_WAIT_MS = 5;

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
  /** Collections the pool asked V8 for (collect()). */
  collects: number;
  /** Event-loop turns payloads waited for a slab to come back (waitWanted()). */
  waits: number;
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
  private collects = 0;
  private waits = 0;
  /** Bytes lent since the last collect(). */
  private lentSinceCollect = 0;
  /**
   * What the last collect() cost, in ms of this process's CPU time (a first guess before it ran):
   * not its wall time, which a loaded machine inflates with the time other jobs held the CPU
   * (a 0.3 ms scavenge measured 17 ms there, and the pool then went 17 payloads without one).
   */
  private collectMs = 2;
  /** When collect() last ran (performance.now()). */
  private collectedAt = -Infinity;
  /** When collect() last ran (performance.now()), -Infinity before it did. */
  get lastCollectAt(): number {
    return this.collectedAt;
  }

  /** How fast new memory faults in here, in bytes per ms (settable: tests make payloads always wait). */
  faultBytesPerMs = FAULT_BYTES_PER_MS;
  /** What collect() runs (settable: tests make it lose the CPU meanwhile). */
  collector: () => void = collectYoungGeneration;
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
   * @param collectWaitMs how long after collect() a payload may wait for a slab to come back (settable)
   */
  constructor(
    public maxBytes: number = RECEIVE_POOL_MAX_BYTES,
    readonly idleMs: number = RECEIVE_POOL_IDLE_MS,
    public collectWaitMs: number = RECEIVE_POOL_COLLECT_WAIT_MS,
  ) {}

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
    if (slab === null) {
      // The first payload of its size, if large: a spare slab too, so that the next one lands while V8 has not
      // freed this one yet rather than wait for it or fault in a new slab mid-stream (65 ms for 64 MiB here).
      const first = size >= SPARE_MIN_BYTES && !this.slabs.some((s) => s.sizeBytes >= length && s.sizeBytes <= 2 * size);
      slab = this.mapSlab(size);
      if (slab !== null && first && size <= this.maxBytes / 8) this.mapSlab(size); // the next search starts at it
    }
    if (slab === null) {
      this.misses++;
      return null;
    }
    const ab = anonLend(slab.region, length);
    // A transferred buffer would be detached here while the slab went on being lent: forbid it.
    markAsUntransferable(ab);
    slab.lentAt = performance.now();
    this.lends++;
    this.lentSinceCollect += size;
    return new Uint8Array(ab);
  }

  /**
   * Whether collect() is worth calling now, once the listener returned: the
   * next payload of `length` bytes would find no free slab (it would map a
   * new one and fault it in), and the slabs lent since the last collection
   * are enough that faulting them in afresh would cost at least twice what
   * the last collection took.
   */
  collectWanted(length: number): boolean {
    if (this.lentSinceCollect < Math.max(RECEIVE_POOL_COLLECT_MIN_BYTES, 2 * this.collectMs * this.faultBytesPerMs)) return false;
    const size = slabBytesFor(length);
    if (size > this.maxBytes / 4) return false;
    return !this.slabs.some((slab) => slab.sizeBytes >= length && slab.sizeBytes <= 2 * size && anonLent(slab.region) === 0);
  }

  /**
   * Whether a payload of `length` bytes should wait an event-loop turn rather
   * than land now: no free slab holds it, but slabs that would are lent and
   * collect() ran recently, so they may be about to come back (V8 frees
   * buffers on a turn after the collection, once a helper thread swept them).
   * Recently: less than `collectWaitMs` ago, and less than half of what
   * faulting in a new slab would take (a small payload waits less).
   */
  waitWanted(length: number, nowMs: number = performance.now()): boolean {
    const size = slabBytesFor(length);
    const sinceMs = nowMs - this.collectedAt;
    if (sinceMs > this.collectWaitMs || sinceMs > size / this.faultBytesPerMs / 2) return false;
    if (size > this.maxBytes / 4) return false;
    let lent = false;
    for (const slab of this.slabs) {
      if (slab.sizeBytes < length || slab.sizeBytes > 2 * size) continue;
      if (anonLent(slab.region) === 0) return false;
      lent = true;
    }
    if (lent) this.waits++;
    return lent;
  }

  /**
   * Has V8 collect its young generation now, where payload buffers the
   * listener dropped are, so that their slabs come back on a later event-loop
   * turn rather than after V8's own collection, several payloads later (a new
   * slab costs page faults: about 1 GB/s on the VMs this was measured on).
   * Call it with no lent buffer of interest on the stack.
   */
  collect(): void {
    const cpu0 = process.cpuUsage();
    this.collector();
    this.collectedAt = performance.now();
    const cpu = process.cpuUsage(cpu0);
    this.collectMs = (cpu.user + cpu.system) / 1000;
    this.lentSinceCollect = 0;
    this.collects++;
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
    return { mappedBytes: this.mapped, slabs: this.slabs.length, free, lends: this.lends, reuses: this.reuses, misses: this.misses, collects: this.collects, waits: this.waits };
  }
}

/** The pool every channel of this process lands owned large payloads in. */
export const receivePool = new ReceivePool();
