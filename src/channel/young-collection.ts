// How the receive pool has V8 collect garbage now, so that payload buffers a
// listener dropped are freed (and their slabs lent again) before the next
// payload, rather than at V8's own next collection, several payloads later.
// A listener that drops a payload drops it young: a minor collection (a
// scavenge of the young generation, 0.2-1 ms on the VMs this was measured on)
// frees it. V8's gc function is exposed only with --expose-gc: this file turns
// that flag on just long enough to make one context and take its gc, then off
// again, so no other context gets a `gc` global. Where that is refused, it
// tells V8 of external memory far above its limits, which makes V8 run a full,
// memory-reducing collection at once (5-18 ms there). docs/channel.md, "Large payloads".
import v8 from 'node:v8';
import vm from 'node:vm';
import { heapAdjustExternal } from '../native/native.js';

type GcFunction = (options?: { type?: 'major' | 'minor' }) => void;

let gcFunction: GcFunction | null | undefined;

/** V8's gc function, taken once; null where it cannot be had. */
function gcOf(): GcFunction | null {
  if (gcFunction !== undefined) return gcFunction;
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === 'function') return (gcFunction = own as GcFunction); // started with --expose-gc
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    gcFunction = typeof gc === 'function' ? (gc as GcFunction) : null;
  } catch {
    gcFunction = null;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
  return gcFunction;
}

/**
 * Collects V8's young generation now (a full collection where that cannot be
 * asked for). Buffers freed by it are handed back to their owners on a later
 * event-loop turn (Node runs external-memory finalizers from its loop).
 */
export function collectYoungGeneration(): void {
  const gc = gcOf();
  if (gc !== null) return gc({ type: 'minor' });
  // More than half the heap's limit above V8's count since its last collection: it collects at once.
  const report = v8.getHeapStatistics().heap_size_limit + (64 << 20);
  heapAdjustExternal(report);
  heapAdjustExternal(-report);
}
