// The kinds of frame a channel's rings carry, and of binary message its
// socket carries. Kind 0 is the ring's padding (ring.ts). Large payloads are
// acknowledged, in order, through the ring's `acked` word, not by frames, so
// acknowledgements never wait behind messages nobody reads yet.
import { ProtocolError } from '../errors.js';

export const KIND_BYTES = 1;
export const KIND_JSON = 2;
export const KIND_ADVANCED = 3;
/** [token u32][inner kind u32][address u64][length f64] */
export const KIND_LARGE_CMA = 4;
/** [token u32][inner kind u32][length f64]; the fd comes over the socket */
export const KIND_LARGE_MEMFD = 5;
/** [token u32][inner kind u32][arena id u32][0 u32][offset f64][length f64] */
export const KIND_LARGE_ARENA = 6;
/** [inner kind u32][0 u32][total length f64][chunk bytes]; chunks of one payload are consecutive */
export const KIND_CHUNK = 7;
/** [seq u32][count u32][array u32][type u8 × count]: the handles of the next message; the fds come over the socket (passed-handles.ts) */
export const KIND_HANDLES = 8;
/** [token u32][inner kind u32][arena id u32][0 u32][offset f64][length f64][total length f64]: one piece of a payload the arena cannot hold whole; pieces of one payload are consecutive */
export const KIND_ARENA_PIECE = 9;

// Socket messages: JSON handshake text, or a binary fd handoff
// [SOCK_PAYLOAD_FD u32][token u32] + 1 fd, or [SOCK_ARENA_FD u32][arena id u32] + 1 fd,
// or [SOCK_HANDLES u32][seq u32] + the fds of one message's handles.
export const SOCK_PAYLOAD_FD = 1;
export const SOCK_ARENA_FD = 2;
export const SOCK_HANDLES = 3;

/** A frame whose kind or size breaks the ring's rules. */
export function corruptFrame(kind: number, length: number): ProtocolError {
  return new ProtocolError('CORRUPT_SEGMENT', `corrupt channel ring: frame kind ${kind} with ${length} bytes`);
}
