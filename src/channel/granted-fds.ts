// A channel made by a third process for two others (the bus's direct-path
// grants, docs/direct.md), the maker's side: it creates the segment, both
// doorbells and a socketpair, and passes one set of fds to each end
// (granted-ends.ts opens them). The segment is sealed against shrinking and
// growing (no end can make the other's, or the maker's, reads fault); the
// maker closes its fds and may keep a view of the control page
// (GrantedTraffic): it reads the bytes each side published and can revoke the
// channel (a flag both ends read before each send, GrantState). Apart from
// granted-ends.ts so that the bus loads no more of the channel layer than this.
import { SOCK_SEQPACKET, check, efdOpen, fdClose, shmMap, shmUnmap, sockPair } from '../native/native.js';
import { createSegment, DATA_OFFSET, GRANT_FLAGS, ringControl } from './segment.js';

/** The fds of a made channel: the segment and doorbells are shared, each side has its own socket end. */
export interface GrantedFds {
  memfd: number;
  efd0: number;
  efd1: number;
  /** socks[side] is that side's end of the socketpair. */
  socks: [number, number];
}

/** Makes the fds of a channel with rings of `ringBytes` (a power of two); the caller passes them on and closes them. */
export function makeGrantedFds(ringBytes: number): GrantedFds {
  const segment = createSegment(ringBytes, true);
  shmUnmap(segment.buffer);
  const fds: number[] = [segment.fd];
  try {
    fds.push(check(efdOpen(0), 'eventfd'), check(efdOpen(0), 'eventfd'));
    const pair = new Int32Array(2);
    check(sockPair(SOCK_SEQPACKET, pair), 'socketpair');
    fds.push(pair[0], pair[1]);
  } catch (e) {
    for (const fd of fds) fdClose(fd);
    throw e;
  }
  return { memfd: fds[0], efd0: fds[1], efd1: fds[2], socks: [fds[3], fds[4]] };
}

/** The revoked bit of the grant flags word. */
export const REVOKED = 1;

/**
 * What the maker can see and do of a channel it made without taking part:
 * the bytes each side has published (each ring's tail, a byte counter mod
 * 2^32), and revoking it, through a mapping of the segment's control page.
 * Nothing in the channel waits for or wakes the maker; the only word it
 * writes is the grant flags, which the ends only read.
 */
export class GrantedTraffic {
  private buffer: ArrayBuffer | undefined;
  private readonly i32: Int32Array;
  private readonly tails: [number, number];

  /** Maps the control page of the segment `memfd` (the caller may close the fd afterwards). */
  constructor(memfd: number, ringBytes: number) {
    this.buffer = shmMap(memfd, DATA_OFFSET, true);
    this.i32 = new Int32Array(this.buffer);
    this.tails = [ringControl(0, ringBytes).tail >> 2, ringControl(1, ringBytes).tail >> 2];
  }

  /**
   * Tells both ends to stop sending new messages on the channel: an end that
   * sends after this returns sees the flag (GrantState.revoked) and uses the
   * maker's path instead.
   */
  revoke(): void {
    // SYNC: pairs with the Atomics.load in GrantState.revoked.
    if (this.buffer !== undefined) Atomics.or(this.i32, GRANT_FLAGS >> 2, REVOKED);
  }

  /** Bytes (frames, mod 2^32) side `side` has published towards the other; 0 once closed. */
  bytesFrom(side: 0 | 1): number {
    // SYNC: pairs with the producer's Atomics.store of its tail (ring.ts publish).
    return this.buffer === undefined ? 0 : Atomics.load(this.i32, this.tails[side]) >>> 0;
  }

  close(): void {
    if (this.buffer === undefined) return;
    shmUnmap(this.buffer);
    this.buffer = undefined;
  }
}
