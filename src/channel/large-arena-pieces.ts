// Large payloads the payload arena cannot hold whole (by default, above
// about 32 MiB): sent through it in pieces, consecutive (nothing else is sent
// between the pieces of one payload). The sender copies a piece into a free
// extent (large-arena.ts) and goes on with the next while the receiver copies
// the one before into the buffer the payload lands in and acknowledges it, so
// the two copies run at once, one on each side's CPU, within the arenas'
// bound (arenaMaxBytes). See docs/channel.md, "Large payloads".
import { constants as bufferConstants } from 'node:buffer';
import { ProtocolError } from '../errors.js';
import { corruptFrame, KIND_ARENA_PIECE } from './frame-kinds.js';
import { LargePathBase } from './large-path-base.js';
import { PIECE_DESCRIPTOR_BYTES } from './large-arena.js';
import type { LargePayloadPath } from './large-payloads.js';

const MAX_LENGTH = bufferConstants.MAX_LENGTH;
/** Pieces are at least this large when the arenas' bound allows (unless the payload's end is nearer). */
const MIN_PIECE_BYTES = 64 << 10;

export class ArenaPiecePath extends LargePathBase implements LargePayloadPath {
  readonly frameKind = KIND_ARENA_PIECE;
  /** Bytes of the head payload already sent (it stays at the head of the queue until done). */
  private sent = 0;
  /** The payload being reassembled. */
  private assembly: { kind: number; buf: Uint8Array; filled: number } | null = null;

  /** Part of a payload is in the arena: the rest must follow before anything else. */
  get sending(): boolean {
    return this.sent > 0;
  }

  /** Part of a payload has arrived: only its pieces may follow. */
  get assembling(): boolean {
    return this.assembly !== null;
  }

  /**
   * The size of the next piece: a quarter of the arenas' bound when an arena
   * that large can be had (two pieces in flight while a third is copied), a
   * quarter of the newest arena otherwise; 0 when no arena within the bound
   * holds a piece.
   */
  private pieceBytes(remaining: number): number {
    const arena = this.large.arena;
    const wanted = Math.max(MIN_PIECE_BYTES, Math.floor(this.core.settings.arenaMaxBytes / 4) & ~63);
    if (arena.canHold(wanted)) return Math.min(remaining, wanted);
    const newest = arena.newest;
    if (newest === undefined) return 0;
    return Math.min(remaining, Math.max(64, Math.floor(newest.sizeBytes / 4) & ~63));
  }

  /**
   * Puts a payload through the arena in pieces, continuing where the last
   * call stopped. 1: all sent; 0: wait for room (`sending` says whether part
   * of it went); -1: no arena can be made (only before the first piece).
   */
  send(kind: number, payload: Uint8Array): 0 | 1 | -1 {
    const total = payload.byteLength;
    while (this.sent < total) {
      const n = this.pieceBytes(total - this.sent);
      if (n === 0) return -1; // only before the first piece: once an arena exists, a piece fits in it
      const r = this.large.arena.sendExtent(kind, [payload.subarray(this.sent, this.sent + n)], n, total);
      if (r !== 1) {
        if (r === -1 && this.sent > 0) throw new Error('payload arena lost in the middle of a payload');
        return r;
      }
      this.sent += n;
    }
    this.sent = 0;
    this.core.stats.messagesSent++;
    this.core.stats.piecedTransfers++;
    return 1;
  }

  receive(at: number, length: number): void {
    if (length !== PIECE_DESCRIPTOR_BYTES) throw corruptFrame(KIND_ARENA_PIECE, length);
    const { u32, f64 } = this.core;
    const token = u32[at >> 2];
    const kind = u32[(at >> 2) + 1];
    const total = f64[(at >> 3) + 4];
    const piece = this.large.arena.peerExtent(at);
    const n = piece.byteLength;
    let a = this.assembly;
    if (a === null) {
      if (!Number.isSafeInteger(total) || total <= n || total > MAX_LENGTH) {
        throw new ProtocolError('CORRUPT_SEGMENT', `corrupt pieced payload: ${total} bytes announced, first piece of ${n}`);
      }
      const buf = this.inb.landing(kind, total, true);
      if (buf === null) return; // put back: read again after a turn
      a = this.assembly = { kind, buf, filled: 0 };
    } else if (kind !== a.kind || total !== a.buf.byteLength || a.filled + n > total) {
      throw new ProtocolError('CORRUPT_SEGMENT', `corrupt pieced payload: a piece of ${n} bytes (kind ${kind}, total ${total}) after ${a.filled} of ${a.buf.byteLength} bytes (kind ${a.kind})`);
    }
    a.buf.set(piece, a.filled);
    a.filled += n;
    // Copied out: the extent goes back to the sender at once, so it refills while we copy the next.
    this.inb.acknowledge(token);
    if (a.filled === a.buf.byteLength) {
      this.assembly = null;
      this.inb.deliverLarge(a.kind, a.buf);
    }
  }

  close(): void {
    this.assembly = null;
  }
}
