// Writing one encoded message on a direct peer's channel (docs/direct.md):
// straight into the ring, or into the payload arena piece by piece when its
// large `ay` values were left out of the encoded bytes; queued behind what
// waits for room otherwise, with calls bounded as the bus bounds a queue.
import { forEachPart, joinParts, type EncodedParts } from '../wire/index.js';
import type { DirectPeer } from './direct-peer.js';
import { DBusError, ErrorNames } from './errors.js';

const EMPTY = new Uint8Array(0);

/**
 * Writes bytes (and fds, passed in order with them over the channel's socket; they stay the
 * caller's) on a peer's channel; false when the channel is closed (the caller uses the bus).
 * `borrowed` bytes (a view of an encoder's buffer, at most 16 KiB: below the channel's
 * large-payload threshold) are copied into the ring at once, or copied first when they must
 * wait. Throws DBusError LimitsExceeded for a call beyond `maxQueuedBytes` waiting for room.
 */
export function writeDirect(
  p: DirectPeer, message: Uint8Array | EncodedParts, isCall: boolean, maxQueuedBytes: number, fds?: readonly number[], borrowed = false,
): boolean {
  const ch = p.channel;
  if (!ch.isOpen) return false;
  const handles = fds === undefined ? undefined : [...fds];
  let bytes: Uint8Array;
  let sent = false;
  // A message with fds may be queued by trySend itself (its handles went first).
  if (message instanceof Uint8Array) bytes = borrowed && handles !== undefined ? new Uint8Array(message) : message;
  else {
    // Straight into the payload arena when it can take the message now; else joined, as any other.
    if (handles === undefined) sent = ch.trySendPieces(pieces(message), message.byteLength);
    bytes = sent ? EMPTY : joinParts(message);
  }
  if (!sent && !ch.trySend(bytes, handles)) {
    const n = bytes.byteLength;
    if (isCall && p.queuedBytes + n > maxQueuedBytes) {
      throw new DBusError(ErrorNames.LimitsExceeded, `The destination ${p.uniqueName} has a full message queue`);
    }
    p.queuedBytes += n;
    if (borrowed && bytes === message) bytes = new Uint8Array(bytes);
    ch.send(bytes, handles).then(() => { p.queuedBytes -= n; }, () => { p.queuedBytes -= n; });
  }
  p.sent++;
  return true;
}

/** The pieces of an encoded message whose large `ay` values were left out of its buffer. */
function pieces(parts: EncodedParts): Uint8Array[] {
  const all: Uint8Array[] = [];
  forEachPart(parts, (bytes) => all.push(bytes));
  return all;
}
