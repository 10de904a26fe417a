// Large payloads in chunks through the ring: pieces of up to a quarter of the
// ring, consecutive (nothing else is sent between the pieces of one payload),
// reassembled by the receiver. The path that needs nothing but the ring: used
// when forced (largePayload: 'ring') or when no memfd can be made.
import { constants as bufferConstants } from 'node:buffer';
import { ProtocolError } from '../errors.js';
import { corruptFrame, KIND_CHUNK } from './frame-kinds.js';
import { LargePathBase } from './large-path-base.js';
import type { LargePayloadPath } from './large-payloads.js';

const MAX_LENGTH = bufferConstants.MAX_LENGTH;

export class ChunkPath extends LargePathBase implements LargePayloadPath {
  readonly frameKind = KIND_CHUNK;
  /** Bytes of the head payload already sent (it stays at the head of the queue until done). */
  private sent = 0;
  /** The payload being reassembled. */
  private assembly: { kind: number; buf: Uint8Array; filled: number } | null = null;

  /** Part of a payload is in the ring: the rest must follow before anything else. */
  get sending(): boolean {
    return this.sent > 0;
  }

  /** Part of a payload has arrived: only its chunks may follow. */
  get assembling(): boolean {
    return this.assembly !== null;
  }

  /**
   * Puts a payload through the ring, continuing where the last call stopped.
   * 1: all sent; 0: the ring is full (`sending` says whether part of it went).
   */
  send(kind: number, payload: Uint8Array): 0 | 1 {
    const { writer, u8, u32, f64, stats } = this.core;
    const total = payload.byteLength;
    const chunkBytes = this.core.settings.chunkBytes;
    while (this.sent < total) {
      const n = Math.min(total - this.sent, chunkBytes);
      const at = writer.reserve(16 + n);
      if (at < 0) return this.out.full();
      u32[at >> 2] = kind;
      u32[(at >> 2) + 1] = 0;
      f64[(at >> 3) + 1] = total;
      u8.set(payload.subarray(this.sent, this.sent + n), at + 16);
      this.out.commit(16 + n, KIND_CHUNK, false);
      this.sent += n;
    }
    this.sent = 0;
    stats.messagesSent++;
    stats.chunkedTransfers++;
    return 1;
  }

  receive(at: number, length: number): void {
    if (length <= 16) throw corruptFrame(KIND_CHUNK, length);
    const n = length - 16;
    const { u8, u32, f64 } = this.core;
    const kind = u32[at >> 2];
    const total = f64[(at >> 3) + 1];
    let a = this.assembly;
    if (a === null) {
      if (!Number.isSafeInteger(total) || total < n || total > MAX_LENGTH) {
        throw new ProtocolError('CORRUPT_SEGMENT', `corrupt chunked payload: ${total} bytes announced, first chunk of ${n}`);
      }
      a = this.assembly = { kind, buf: this.inb.landing(kind, total), filled: 0 };
    } else if (kind !== a.kind || total !== a.buf.byteLength || a.filled + n > total) {
      throw new ProtocolError('CORRUPT_SEGMENT', `corrupt chunked payload: a chunk of ${n} bytes (kind ${kind}, total ${total}) after ${a.filled} of ${a.buf.byteLength} bytes (kind ${a.kind})`);
    }
    a.buf.set(u8.subarray(at + 16, at + 16 + n), a.filled);
    a.filled += n;
    if (a.filled === a.buf.byteLength) {
      this.assembly = null;
      this.inb.deliverLarge(a.kind, a.buf);
    }
  }

  close(): void {
    this.assembly = null;
  }
}
