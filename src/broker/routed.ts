// One message on its way through the bus: decoded once at receive, its
// SENDER stamped once (by re-writing the header; bodies are never re-encoded),
// and the views of it that match rules and policy rules look at, made on
// first use. The frame is borrowed from the receive buffer until routing ends.
import { largeFrames } from '../transport/buffer-pool.js';
import { decodeMessage, withSender, parseSignature, MessageType, type DecodedMessage, type MessageHeader } from '../wire/index.js';
import { writeHeader } from '../wire/encode-message.js';
import { encoder } from '../wire/encoder.js';
import type { MatchableMessage } from '../match/index.js';
import type { PolicyMessage } from './bus-policy.js';
import type { Connection } from './connection.js';
import type { SharedFds } from './shared-fds.js';
import type { UserAccount } from './user-accounts.js';
import { DRIVER_NAME } from './driver-names.js';

/** One message the bus routes, decoded, with the bytes it will forward. */
export interface Routed {
  msg: DecodedMessage;
  /** The bytes with SENDER stamped (made on first use): the whole message, or only its header when `body` is set. */
  bytes: Uint8Array | undefined;
  /** A large message's body, sent as it arrived after the re-written header (never copied). */
  body?: Uint8Array;
  /** Holders of `body` (receive() and each queued send); the last one gives the frame back to the pool. */
  bodyRefs?: number;
  bodyDone?: () => void;
  frame: Uint8Array;
  /** The fds that came with it, shared by every copy sent; undefined when none. */
  fds: SharedFds | undefined;
  /** The sending connection; undefined for the bus's own messages. */
  from: Connection | undefined;
  /** A unicast message's payer, once routed (who asked for it: see router.ts). */
  payer?: UserAccount;
}

/** The body's values, decoded on first use (while the frame is still valid). */
export function bodyOf(r: Routed): unknown[] {
  const msg = r.msg as { body?: unknown[] };
  return (msg.body ??= decodeMessage(r.frame, { zeroCopy: true }).body);
}

/** A message header with SENDER set, in the message's byte order, without unknown fields. */
function stampHeader(h: MessageHeader, sender: string): Uint8Array {
  const w = encoder;
  w.reset(h.endian === 'little');
  try {
    writeHeader(w, { ...h, sender }, h.bodyLength, h.unixFds ?? 0, undefined);
  } catch (e) {
    w.reset(true);
    throw e;
  }
  return w.take();
}

/**
 * Stamps SENDER (once per message). A message too large to be a borrowed
 * view owns its bytes: only its header is re-written and its body is sent
 * as it came, so large bodies are never copied.
 */
export function stamped(r: Routed): Uint8Array {
  if (r.bytes === undefined) {
    if (!r.from) r.bytes = r.frame;
    else if (r.frame.length > r.from.stream.ownedFrameBytes) {
      r.bytes = stampHeader(r.msg, r.from.uniqueName!);
      const frame = r.frame;
      r.body = frame.subarray(r.msg.headerLength, r.msg.totalLength);
      // The frame is this message's own buffer: once every send of its body is
      // written, nothing references it and the next large message may reuse it.
      r.bodyRefs = 1;
      r.bodyDone = () => {
        if (--r.bodyRefs! === 0) largeFrames.release(frame);
      };
    } else r.bytes = withSender(r.frame, r.from.uniqueName!, r.msg, { dropUnknownFields: true });
  }
  return r.bytes;
}

/**
 * What policy rules see of a routed message. Replies count as requested:
 * routing drops unsolicited ones before any check, and the bus replies only to calls.
 */
export function policyMessage(r: Routed): PolicyMessage {
  const type = r.msg.type;
  return { ...r.msg, unixFds: r.fds?.fds.length ?? 0, requestedReply: type === MessageType.METHOD_RETURN || type === MessageType.ERROR };
}

/** What match rules see of a routed message; `recipient`: the connection it goes to (undefined: the bus, or nobody yet). */
export function matchable(r: Routed, recipient?: Connection): MatchableMessage {
  const msg = r.msg;
  let types: readonly { code: string }[] | undefined;
  return {
    type: msg.type,
    sender: r.from ? r.from.uniqueName : DRIVER_NAME,
    interface: msg.interface,
    member: msg.member,
    path: msg.path,
    destination: msg.destination,
    recipient: recipient?.uniqueName,
    arg(i) {
      types ??= msg.signature ? parseSignature(msg.signature) : [];
      const t = types[i];
      if (!t || (t.code !== 's' && t.code !== 'o')) return undefined;
      return { value: bodyOf(r)[i] as string, isPath: t.code === 'o' };
    },
  };
}
