// Large payloads through a payload arena (the default): each direction has
// sealed memfd arenas both ends map once (arena.ts). The sender copies the
// payload into the next free extent and puts {token, arena, offset, length}
// in the ring; send resolves at once. The receiver checks the descriptor
// against the arena, hands out a view (views mode) or a copy, acknowledges,
// and the extent is free again. A payload larger than the arena gets a new
// arena twice its size, while all arenas stay within arenaMaxBytes.
import { ProtocolError, SystemError, errnoName } from '../errors.js';
import { F_SEAL_SHRINK, check, fdClose, fdSize, memfdGetSeals, sockSend } from '../native/native.js';
import { MAX_ARENA_BYTES, PayloadArena, PeerArena } from './arena.js';
import { corruptFrame, KIND_ARENA_PIECE, KIND_LARGE_ARENA, SOCK_ARENA_FD } from './frame-kinds.js';
import { LargePathBase } from './large-path-base.js';
import type { LargePayloadPath, PathParts } from './large-payloads.js';

const DESCRIPTOR_BYTES = 32;
/** The frame of one piece of a payload sent in pieces (large-arena-pieces.ts): an extent's descriptor with the payload's total. */
export const PIECE_DESCRIPTOR_BYTES = 40;

export class ArenaPath extends LargePathBase implements LargePayloadPath {
  readonly frameKind = KIND_LARGE_ARENA;
  /** This side's arenas (the last one takes new payloads) and the peer's, by id. */
  private readonly arenas: PayloadArena[] = [];
  private totalBytes = 0;
  private readonly peerArenas = new Map<number, PeerArena>();

  constructor(parts: PathParts) {
    super(parts);
    this.socket.onPassed(SOCK_ARENA_FD, (id, fd) => this.mapPeerArena(id, fd));
  }

  /** The arena that takes new payloads (undefined before the first). */
  get newest(): PayloadArena | undefined {
    return this.arenas[this.arenas.length - 1];
  }

  /** True when the newest arena has room for `length` bytes now. */
  fits(length: number): boolean {
    const arena = this.newest;
    return arena !== undefined && arena.fits(length);
  }

  /** True when the arenas can take a payload of `length` bytes, now or once extents come back. */
  canHold(length: number): boolean {
    const last = this.newest;
    if (last && last.sizeBytes >= length) return true;
    return this.totalBytes + this.nextArenaBytes(length) <= this.core.settings.arenaMaxBytes;
  }

  private nextArenaBytes(length: number): number {
    return Math.min(MAX_ARENA_BYTES, Math.max(this.core.settings.arenaFirstBytes, 2 * length + 4096));
  }

  /**
   * Copies a payload into a free extent of the newest arena (making a first or
   * larger one when needed) and puts its descriptor in the ring. 1: sent;
   * 0: wait (ring or arena full); -1: no arena can be made (use another path).
   */
  send(kind: number, payload: Uint8Array): 0 | 1 | -1 {
    return this.sendPieces(kind, [payload], payload.byteLength);
  }

  /** send() of the concatenation of `pieces` (`length` bytes in all), each copied once into the extent. */
  sendPieces(kind: number, pieces: readonly Uint8Array[], length: number): 0 | 1 | -1 {
    return this.sendExtent(kind, pieces, length, 0);
  }

  /**
   * Copies `pieces` (`length` bytes in all) into one extent and puts its descriptor in the ring:
   * a whole payload (`total` 0), or one piece of a payload of `total` bytes (ArenaPiecePath).
   */
  sendExtent(kind: number, pieces: readonly Uint8Array[], length: number, total: number): 0 | 1 | -1 {
    const core = this.core;
    let arena = this.newest;
    if (!arena || arena.sizeBytes < length) {
      if (arena && !arena.isIdle && this.totalBytes + this.nextArenaBytes(length) > core.settings.arenaMaxBytes) return this.out.blockLarge('arena', length);
      try {
        if (core.settings.refuseMemfd) throw new SystemError(12, 'memfd_create', 'refused for a test');
        const opened = PayloadArena.open(this.arenas.length + 1, this.nextArenaBytes(length));
        try {
          check(sockSend(core.sock, [Uint32Array.of(SOCK_ARENA_FD, opened.arena.id)], Int32Array.of(opened.fd)), 'sendmsg', 'arena handoff');
        } catch (e) {
          opened.arena.close();
          throw e;
        } finally {
          fdClose(opened.fd);
        }
        arena = opened.arena;
        this.arenas.push(arena);
        this.totalBytes += arena.sizeBytes;
      } catch (e) {
        if (!(e instanceof SystemError)) throw e;
        this.large.refuseSharedMemory(e);
        return -1;
      }
    }
    if (!arena.fits(length)) {
      this.out.collectAcks();
      if (!arena.fits(length)) return this.out.blockLarge('arena', length);
    }
    const frameBytes = total === 0 ? DESCRIPTOR_BYTES : PIECE_DESCRIPTOR_BYTES;
    const at = core.writer.reserve(frameBytes);
    if (at < 0) return this.out.full();
    const offset = arena.allocate(length);
    let to = offset;
    for (const piece of pieces) {
      arena.u8.set(piece, to);
      to += piece.byteLength;
    }
    const token = this.out.track({ exposure: null, arena, consumedBytes: arena.consumedBytes, resolve: null, reject: null });
    const { u32, f64 } = core;
    u32[at >> 2] = token;
    u32[(at >> 2) + 1] = kind;
    u32[(at >> 2) + 2] = arena.id;
    u32[(at >> 2) + 3] = 0;
    f64[(at >> 3) + 2] = offset;
    f64[(at >> 3) + 3] = length;
    if (total === 0) {
      core.stats.arenaTransfers++;
      this.out.commit(DESCRIPTOR_BYTES, KIND_LARGE_ARENA);
    } else {
      f64[(at >> 3) + 4] = total;
      this.out.commit(PIECE_DESCRIPTOR_BYTES, KIND_ARENA_PIECE, false);
    }
    this.out.publishNow();
    return 1;
  }

  receive(at: number, frameLength: number): void {
    if (frameLength !== DESCRIPTOR_BYTES) throw corruptFrame(KIND_LARGE_ARENA, frameLength);
    const { u32 } = this.core;
    const token = u32[at >> 2];
    const kind = u32[(at >> 2) + 1];
    const extent = this.peerExtent(at);
    const length = extent.byteLength;
    if (this.inb.borrows(kind, length)) {
      // The view is valid until the listener returns; then the extent goes back to the sender.
      try {
        this.inb.deliverLarge(kind, extent);
      } finally {
        if (!this.core.isClosed()) this.inb.acknowledge(token);
      }
      return;
    }
    const owned = this.inb.landing(kind, length, true);
    if (owned === null) return; // put back: read again after a turn
    owned.set(extent);
    this.inb.acknowledge(token);
    this.inb.deliverLarge(kind, owned);
  }

  /** A view of the extent the descriptor at `at` names in one of the peer's arenas, checked against that arena. */
  peerExtent(at: number): Uint8Array {
    const { u32, f64 } = this.core;
    const id = u32[(at >> 2) + 2];
    const offset = f64[(at >> 3) + 2];
    const length = f64[(at >> 3) + 3];
    const arena = this.socket.passed(this.peerArenas, id);
    if (arena === undefined) throw new ProtocolError('MISSING_FD', `peer put a payload in arena ${id} but never passed that arena`);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length <= 0 || offset + length > arena.sizeBytes) {
      throw new ProtocolError('CORRUPT_SEGMENT', `corrupt arena payload descriptor: ${length} bytes at offset ${offset} of arena ${id} (${arena.sizeBytes} bytes)`);
    }
    return new Uint8Array(arena.buffer, offset, length);
  }

  /** Maps an arena the peer passed; a second arena with the same id, or a file of a bad size, is a corrupt peer. */
  private mapPeerArena(id: number, fd: number): void {
    let size: number;
    try {
      size = check(fdSize(fd), 'fstat');
    } catch (e) {
      fdClose(fd);
      throw e;
    }
    if (this.peerArenas.has(id) || size <= 0 || size > MAX_ARENA_BYTES) {
      fdClose(fd);
      throw new ProtocolError('BAD_PAYLOAD', `peer passed arena ${id} of ${size} bytes${this.peerArenas.has(id) ? ', an id it already used' : ''}`);
    }
    // A file that could shrink would make reading a payload from it a SIGBUS.
    const seals = memfdGetSeals(fd);
    if (seals < 0 || (seals & F_SEAL_SHRINK) === 0) {
      fdClose(fd);
      throw new ProtocolError('BAD_PAYLOAD', `peer passed arena ${id} not sealed against shrinking (${seals < 0 ? errnoName(-seals) : `seals 0x${seals.toString(16)}`})`);
    }
    this.peerArenas.set(id, new PeerArena(fd, size));
  }

  close(): void {
    for (const arena of this.arenas) arena.close();
    for (const arena of this.peerArenas.values()) arena.close();
    this.arenas.length = 0;
    this.peerArenas.clear();
  }
}
