// A pair of connections the bus routed a message between (docs/direct.md):
// where their direct channel stands (counting messages, offered, live,
// revoking, closed), which end accepted, switched or stopped using it, and
// the bus's view of the bytes each end put on it. `a` is side 0 of the channel.
import type { GrantedTraffic } from '../channel/granted-fds.js';
import type { Connection } from './connection.js';

/** counting -> offered -> live -> revoking -> counting again (or closed after a failure). */
export type PairState = 'counting' | 'offered' | 'live' | 'revoking' | 'closed';

/** Two connections, from the first message the bus routed between them. `a` is side 0 of its channel. */
export interface DirectPair {
  a: Connection;
  b: Connection;
  state: PairState;
  count: number;
  /** Bit 1: a accepted / switched / stopped using a revoked channel; bit 2: b. */
  accepted: number;
  switched: number;
  revoked: number;
  /** The pair was granted a channel once (replies between them may answer calls made on it; each hears PeerGone of the other). */
  channelled: boolean;
  /** The bytes each side has put on the channel, read from its segment. */
  traffic: GrantedTraffic | undefined;
}

/** A pair with a channel, as Direct1.ListPairs and fastbus status show it. */
export interface PairInfo {
  a: Connection;
  b: Connection;
  state: 'offered' | 'live';
  /** Bytes a sent b and b sent a on the channel (ring frames, mod 2^32). */
  bytesAB: number;
  bytesBA: number;
}

/** A pair that has only started counting the messages between `a` and `b`. */
export function newPair(a: Connection, b: Connection): DirectPair {
  return { a, b, state: 'counting', count: 0, accepted: 0, switched: 0, revoked: 0, channelled: false, traffic: undefined };
}

/** `c`'s bit in the pair's accepted, switched and revoked masks. */
export function bit(p: DirectPair, c: Connection): number {
  return p.a === c ? 1 : 2;
}
