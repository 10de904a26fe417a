// Re-emitting a message with a new SENDER (what a bus does to every message
// it relays): the header fields are copied as bytes, the old SENDER left out
// (and unknown fields, if asked), a new SENDER appended; the body bytes are
// copied untouched, never decoded or re-encoded. Each header field is an
// 8-aligned struct, so a field moved to another 8-aligned offset stays valid.
import { ProtocolError } from '../errors.js';
import { checkBusName } from '../names/bus-name.js';
import { EncodeError } from './encode-error.js';
import { decodeHeader } from './decode-message.js';
import { decoder } from './decoder.js';
import { u32At } from './frame-length.js';
import { HeaderField, type MessageHeader } from './message.js';
import { parseSignature } from './signature.js';

/** Options for withSender. */
export interface WithSenderOptions {
  /** Drop header fields this library does not know (as dbus-daemon does before relaying). */
  dropUnknownFields?: boolean;
}

const VARIANT = parseSignature('v')[0];
/** Start and end offsets of the header fields kept, reused between calls. */
const spans: number[] = [];

function putU32(b: Uint8Array, p: number, v: number, little: boolean): void {
  if (little) {
    b[p] = v; b[p + 1] = v >>> 8; b[p + 2] = v >>> 16; b[p + 3] = v >>> 24;
  } else {
    b[p] = v >>> 24; b[p + 1] = v >>> 16; b[p + 2] = v >>> 8; b[p + 3] = v;
  }
}

/**
 * The message in `bytes` with its SENDER field set to `sender` (replaced or
 * added), in the message's own byte order. Pass the `header` already decoded
 * from these same bytes to skip decoding it again (it is trusted). Throws
 * ProtocolError when `bytes` is malformed, EncodeError when `sender` is not a
 * valid bus name.
 */
export function withSender(bytes: Uint8Array, sender: string, header?: MessageHeader, options?: WithSenderOptions): Buffer {
  const rule = typeof sender === 'string' ? checkBusName(sender) : 'is not a string';
  if (rule !== null) throw new EncodeError(`${JSON.stringify(sender)} ${rule}`, 'sender');
  const h = header ?? decodeHeader(bytes);
  if (bytes.length < h.totalLength) throw new ProtocolError('TRUNCATED', `message of ${h.totalLength} bytes given as ${bytes.length} bytes`);
  const little = h.endian === 'little';
  const drop = options?.dropUnknownFields === true;
  const fieldsEnd = 16 + u32At(bytes, 12, little);
  // Find the fields to keep (the header was validated, so every field is well formed).
  spans.length = 0;
  let size = 16;
  for (let s = 16; s < fieldsEnd;) {
    const code = bytes[s];
    let end: number;
    if (code >= 1 && code <= 9) {
      const sig = bytes[s + 2];
      if (sig === 0x75) end = s + 8;
      else if (sig === 0x67) end = s + 6 + bytes[s + 4];
      else end = s + 9 + u32At(bytes, s + 4, little);
    } else {
      const d = decoder;
      d.reset(bytes, fieldsEnd, little);
      d.pos = s + 1;
      d.unixFds = 0xffffffff;
      try {
        d.value(VARIANT);
        end = d.pos;
      } finally {
        d.release();
      }
    }
    if (code !== HeaderField.SENDER && !(drop && (code === 0 || code > 9))) {
      size = ((size + 7) & ~7) + (end - s);
      spans.push(s, end);
    }
    s = (end + 7) & ~7;
  }
  const senderAt = (size + 7) & ~7;
  const fieldsLength = senderAt + 8 + sender.length + 1 - 16;
  const headerLength = (16 + fieldsLength + 7) & ~7;
  const out = Buffer.allocUnsafe(headerLength + h.bodyLength);
  for (let i = 0; i < 12; i++) out[i] = bytes[i];
  putU32(out, 12, fieldsLength, little);
  let p = 16;
  for (let i = 0; i < spans.length; i += 2) {
    while ((p & 7) !== 0) out[p++] = 0;
    const end = spans[i + 1];
    for (let k = spans[i]; k < end; k++) out[p++] = bytes[k];
  }
  while (p < senderAt) out[p++] = 0;
  out[p] = HeaderField.SENDER;
  out[p + 1] = 1;
  out[p + 2] = 0x73;
  out[p + 3] = 0;
  putU32(out, p + 4, sender.length, little);
  p += 8;
  for (let i = 0; i < sender.length; i++) out[p++] = sender.charCodeAt(i);
  out[p++] = 0;
  while (p < headerLength) out[p++] = 0;
  // Short bodies by a loop: a view for set() would be the one allocation left per message.
  if (h.bodyLength > 256) out.set(bytes.subarray(h.headerLength, h.totalLength), headerLength);
  else for (let k = h.headerLength, q = headerLength; k < h.totalLength; k++) out[q++] = bytes[k];
  return out;
}
