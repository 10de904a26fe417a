// An end of a channel made by a third process for two others (the bus's
// direct-path grants, docs/direct.md; the maker's side is granted-fds.ts):
// each end opens its side from the fds the maker passed it, reads the grant
// flags the maker may set to revoke it, and publishes its rules version to the
// other end (GrantState).
import { fdClose, shmMap, shmUnmap } from '../native/native.js';
import type { Channel, ChannelOptions } from './channel.js';
import { REVOKED } from './granted-fds.js';
import { DATA_OFFSET, GRANT_FLAGS, RULES_VERSION } from './segment.js';
import { openReceived } from './setup.js';

/** One side's fds, as received. */
export interface GrantedSide {
  side: 0 | 1;
  memfd: number;
  efd0: number;
  efd1: number;
  sock: number;
}

/**
 * Opens `side` of a channel from fds a maker passed (the segment is checked:
 * magic, layout version, sizes); `peerPid` is the other end's pid as the maker
 * vouches for it. Takes ownership of the fds, closing them on failure.
 */
export function openGranted(fds: GrantedSide, peerPid: number, options: ChannelOptions = {}): Channel {
  try {
    return openReceived(fds.side, fds, peerPid, options);
  } catch (e) {
    fdClose(fds.sock);
    throw e;
  }
}

/**
 * One end's view of the words of a channel a maker made for it: the grant
 * flags (read) and both sides' rules versions (its own written, the other's
 * read), in its own mapping of the control page, made from the memfd before
 * the channel takes it over, so it outlives the channel's own mapping until close().
 */
export class GrantState {
  private buffer: ArrayBuffer | undefined;
  private readonly i32: Int32Array;
  private readonly mine: number;
  private readonly theirs: number;

  constructor(memfd: number, side: 0 | 1) {
    this.buffer = shmMap(memfd, DATA_OFFSET, true);
    this.i32 = new Int32Array(this.buffer);
    this.mine = (RULES_VERSION >> 2) + side;
    this.theirs = (RULES_VERSION >> 2) + 1 - side;
  }

  /** Publishes this side's rules version (the other side reads it before each signal it copies here). */
  set rulesVersion(version: number) {
    // SYNC: pairs with the Atomics.load in peerRulesVersion on the other side.
    if (this.buffer !== undefined) Atomics.store(this.i32, this.mine, version);
  }

  /** The other side's rules version as it published it (0 once closed). */
  get peerRulesVersion(): number {
    // SYNC: pairs with the Atomics.store in the other side's rulesVersion setter.
    return this.buffer === undefined ? 0 : Atomics.load(this.i32, this.theirs);
  }

  /** Whether the maker revoked the channel (false once closed). */
  get revoked(): boolean {
    // SYNC: pairs with the Atomics.or in GrantedTraffic.revoke.
    return this.buffer !== undefined && (Atomics.load(this.i32, GRANT_FLAGS >> 2) & REVOKED) !== 0;
  }

  close(): void {
    if (this.buffer === undefined) return;
    shmUnmap(this.buffer);
    this.buffer = undefined;
  }
}
