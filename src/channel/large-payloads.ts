// Large payloads (above the threshold): the paths they can travel by, each
// in its own file behind LargePayloadPath, and the choice between them made
// from the `largePayload` option, the peer's CMA verdict and whether memfds
// can be made here. See docs/channel.md, "Large payloads".
import type { ChannelCore } from './channel-core.js';
import type { ControlSocket } from './control-socket.js';
import { corruptFrame } from './frame-kinds.js';
import type { Inbound } from './inbound.js';
import { ArenaPath } from './large-arena.js';
import { ArenaPiecePath } from './large-arena-pieces.js';
import { ChunkPath } from './large-chunks.js';
import { CmaPath } from './large-cma.js';
import { MemfdPath } from './large-memfd.js';
import { MAX_LARGE_IN_FLIGHT, type Outbound, type Queued, type WriteResult } from './outbound.js';

/** One way a large payload travels: its sending half and its receiving half. */
export interface LargePayloadPath {
  /** The ring frame kind that carries this path's descriptors (or chunks). */
  readonly frameKind: number;
  /**
   * Sends `payload` (of message kind `kind`): 1 sent; 0 wait (ring or room
   * full, retried later); 2 or a Promise: in flight until acknowledged (2 when
   * `queued` settles then); -1: this path cannot be used here (try another).
   */
  send(kind: number, payload: Uint8Array, queued: Queued | null): WriteResult | -1;
  /** Receives the frame of `length` bytes at `at` of the segment. */
  receive(at: number, length: number): void;
  /** Frees what the path holds (at close, once the segment is unmapped). */
  close(): void;
}

/** What each path is built from. */
export interface PathParts {
  core: ChannelCore;
  out: Outbound;
  inb: Inbound;
  socket: ControlSocket;
  large: LargePayloads;
}

export class LargePayloads {
  readonly arena: ArenaPath;
  readonly pieces: ArenaPiecePath;
  readonly cma: CmaPath;
  readonly memfd: MemfdPath;
  readonly chunks: ChunkPath;
  /** The paths by the frame kind they receive (index = kind). */
  readonly byFrameKind: Array<LargePayloadPath | undefined> = [];
  /** Why no memfd can be made or mapped here ('' while they can): then only chunks go. */
  memfdRefusal = '';
  private loggedFallback = false;
  private readonly core: ChannelCore;
  private readonly out: Outbound;

  constructor(parts: Omit<PathParts, 'large'>) {
    this.core = parts.core;
    this.out = parts.out;
    const all = { ...parts, large: this };
    this.arena = new ArenaPath(all);
    this.pieces = new ArenaPiecePath(all);
    this.cma = new CmaPath(all);
    this.memfd = new MemfdPath(all);
    this.chunks = new ChunkPath(all);
    for (const path of [this.arena, this.pieces, this.cma, this.memfd, this.chunks]) this.byFrameKind[path.frameKind] = path;
  }

  /** Part of a payload (chunks or pieces) is out: the rest must follow before anything else. */
  get sending(): boolean {
    return this.chunks.sending || this.pieces.sending;
  }

  /** Part of a payload (chunks or pieces) has arrived: only the rest may follow. */
  get assembling(): boolean {
    return this.chunks.assembling || this.pieces.assembling;
  }

  /** Sends a large payload by the path chosen for it now (see LargePayloadPath.send). */
  send(kind: number, payload: Uint8Array, queued: Queued | null): WriteResult {
    const out = this.out;
    out.largeBlocked = ''; // set again below if this payload must wait
    if (this.chunks.sending) return this.chunks.send(kind, payload);
    if (this.pieces.sending) return this.pieces.send(kind, payload) as 0 | 1; // -1 only before the first piece
    if (out.inflight.size >= MAX_LARGE_IN_FLIGHT) return out.blockLarge('inflight');
    let path = this.choose(payload.byteLength);
    if (path === 'wait') return out.blockLarge('verdict'); // retried when the verdict arrives
    if (path === 'arena' || path === 'pieces') {
      const r = path === 'arena' ? this.arena.send(kind, payload) : this.pieces.send(kind, payload);
      if (r !== -1) return r;
      // No memfd can be made here (refuseSharedMemory logged why).
      path = this.core.settings.largeMode === 'auto' && this.core.peerCanReadMe === 'yes' ? 'cma' : 'ring';
    }
    if (path === 'ring') return this.chunks.send(kind, payload);
    if (path === 'cma') return this.cma.send(kind, payload, queued);
    const r = this.memfd.send(kind, payload);
    return r === -1 ? this.chunks.send(kind, payload) : r;
  }

  /**
   * Sends the concatenation of `pieces` (`length` bytes, above the threshold) through the
   * arena when it can take them now, copying each piece once; false (nothing sent) otherwise.
   */
  sendPieces(kind: number, pieces: readonly Uint8Array[], length: number): boolean {
    const out = this.out;
    if (length <= this.core.settings.threshold || this.sending || out.handles.dropOwed || out.inflight.size >= MAX_LARGE_IN_FLIGHT) return false;
    if (this.choose(length) !== 'arena') return false;
    out.largeBlocked = '';
    return this.arena.sendPieces(kind, pieces, length) === 1;
  }

  /** How a large payload of `length` bytes travels now, or 'wait' for the peer's CMA verdict. */
  private choose(length: number): 'cma' | 'arena' | 'pieces' | 'memfd' | 'ring' | 'wait' {
    const { largeMode: mode, log } = this.core.settings;
    if (mode === 'ring' || mode === 'memfd') return mode;
    const arenaOk = this.memfdRefusal === '' && this.arena.canHold(length);
    if (mode === 'arena') return arenaOk ? 'arena' : this.memfdRefusal === '' ? 'memfd' : 'ring';
    // Too large for the arenas: in pieces through them (two copies at once, one on each side's CPU).
    if (mode === 'auto' && this.memfdRefusal === '') return arenaOk ? 'arena' : 'pieces';
    const core = this.core;
    if (core.peerCanReadMe === 'unknown') return 'wait';
    if (core.peerCanReadMe === 'yes') return 'cma';
    if (mode === 'cma') {
      throw new Error(`large payload forced to cross-memory attach, but process ${core.peerPid} cannot read this one: ${core.peerRefusal}`);
    }
    if (!this.loggedFallback) {
      this.loggedFallback = true;
      log(`fastbus channel: peer ${core.peerPid} cannot use cross-memory attach (${core.peerRefusal}); large payloads go by chunks through the ring`);
    }
    // Here no memfd can be made ('auto' with one took the arena above; 'cma' threw).
    return 'ring';
  }

  /** No memfd can be made or mapped here: large payloads go in chunks from now on, with one log line. */
  refuseSharedMemory(e: Error): void {
    this.memfdRefusal = e.message;
    this.core.settings.log(`fastbus channel: cannot make a shared payload buffer (${e.message}); large payloads to peer ${this.core.peerPid} go in chunks through the ring`);
  }

  /** Receives a large-payload frame (any kind but the three small ones). */
  receive(kind: number, at: number, length: number): void {
    const path = this.byFrameKind[kind];
    if (path === undefined) throw corruptFrame(kind, length);
    path.receive(at, length);
  }

  close(): void {
    for (const path of [this.arena, this.pieces, this.cma, this.memfd, this.chunks]) path.close();
  }
}
