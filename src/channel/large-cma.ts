// Large payloads by cross-memory attach: the sender exposes its own buffer
// and puts {token, address, length} in the ring; the receiver pulls it with
// process_vm_readv into memory of its own and acknowledges; only then does
// the sender release the buffer and resolve send. No memory beyond the payload.
import { ProtocolError } from '../errors.js';
import { exposeBuffer, readFully } from '../cma/index.js';
import { corruptFrame, KIND_LARGE_CMA } from './frame-kinds.js';
import { LargePathBase } from './large-path-base.js';
import type { LargePayloadPath } from './large-payloads.js';
import type { InFlight, Outbound, Queued } from './outbound.js';

const DESCRIPTOR_BYTES = 24;

export class CmaPath extends LargePathBase implements LargePayloadPath {
  readonly frameKind = KIND_LARGE_CMA;

  send(kind: number, payload: Uint8Array, queued: Queued | null): 0 | 2 | Promise<void> {
    const { writer, u32, u64, f64 } = this.core;
    const at = writer.reserve(DESCRIPTOR_BYTES);
    if (at < 0) return this.out.full();
    const exposure = exposeBuffer(payload);
    const entry: InFlight = { exposure, arena: null, consumedBytes: 0, resolve: null, reject: null };
    const token = this.out.track(entry);
    u32[at >> 2] = token;
    u32[(at >> 2) + 1] = kind;
    u64[(at >> 3) + 1] = exposure.address;
    f64[(at >> 3) + 2] = payload.byteLength;
    this.core.stats.cmaTransfers++;
    this.out.commit(DESCRIPTOR_BYTES, KIND_LARGE_CMA);
    this.out.publishNow();
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

  receive(at: number, length: number): void {
    if (length !== DESCRIPTOR_BYTES) throw corruptFrame(KIND_LARGE_CMA, length);
    const { u32, u64, f64 } = this.core;
    const token = u32[at >> 2];
    const kind = u32[(at >> 2) + 1];
    const address = u64[(at >> 3) + 1];
    const bytes = f64[(at >> 3) + 2];
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new ProtocolError('CORRUPT_SEGMENT', `large payload of ${bytes} bytes`);
    const target = this.inb.landing(kind, bytes, true);
    if (target === null) return; // put back: read again after a turn
    readFully(this.core.peerPid, [{ address, length: bytes }], [target]);
    this.inb.acknowledge(token);
    this.inb.deliverLarge(kind, target);
  }

  close(): void {
    // Exposed buffers in flight are released by Outbound.abandonInFlight.
  }
}
