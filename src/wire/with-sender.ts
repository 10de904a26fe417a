// Re-emitting a message with a new SENDER (what a bus does to every message
// it relays): the header is written again, in the message's own byte order,
// and the body bytes are copied untouched, never decoded or re-encoded.
import { ProtocolError } from '../errors.js';
import { checkBusName } from '../names/bus-name.js';
import { EncodeError } from './encode-error.js';
import { decodeHeader } from './decode-message.js';
import { encoder } from './encoder.js';
import { writeHeader } from './encode-message.js';
import type { MessageHeader } from './message.js';

/** Options for withSender. */
export interface WithSenderOptions {
  /** Drop header fields this library does not know (as dbus-daemon does before relaying). */
  dropUnknownFields?: boolean;
}

/**
 * The message in `bytes` with its SENDER field set to `sender` (replaced or
 * added). Pass the `header` already decoded from these bytes to skip decoding
 * it again. Throws ProtocolError when `bytes` is malformed, EncodeError when
 * `sender` is not a valid bus name.
 */
export function withSender(bytes: Uint8Array, sender: string, header?: MessageHeader, options?: WithSenderOptions): Buffer {
  const rule = typeof sender === 'string' ? checkBusName(sender) : 'is not a string';
  if (rule !== null) throw new EncodeError(`${JSON.stringify(sender)} ${rule}`, 'sender');
  const h = header ?? decodeHeader(bytes);
  if (bytes.length < h.totalLength) throw new ProtocolError('TRUNCATED', `message of ${h.totalLength} bytes given as ${bytes.length} bytes`);
  const w = encoder;
  w.reset(h.endian === 'little');
  try {
    const unknown = options?.dropUnknownFields ? undefined : h.unknownFields;
    writeHeader(w, { ...h, sender }, h.bodyLength, h.unixFds ?? 0, unknown);
    w.ensure(h.bodyLength);
    w.buf.set(bytes.subarray(h.headerLength, h.totalLength), w.pos);
    w.pos += h.bodyLength;
  } catch (e) {
    w.reset(true);
    throw e;
  }
  return w.take();
}
