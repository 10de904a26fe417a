// A message with a new header and the same body bytes: what the importing
// side of a bridge sends on its bus (its own serial, the caller as DESTINATION,
// the caller's serial as REPLY_SERIAL). The body is copied, never decoded; the
// header keeps the message's byte order, so the body stays valid.
import { writeHeader, type HeaderValues } from '../wire/encode-message.js';
import { Encoder } from '../wire/encoder.js';
import type { MessageHeader } from '../wire/index.js';

/** Its own encoder: the module one keeps a header template that these changing headers would only churn. */
const w = new Encoder();

/** The bytes of a message with header `values` and the body of `bytes` (whose decoded header is `header`). */
export function reheader(bytes: Uint8Array, header: MessageHeader, values: HeaderValues): Buffer {
  w.reset(header.endian === 'little');
  writeHeader(w, values, header.bodyLength, header.unixFds ?? 0);
  w.ensure(header.bodyLength);
  w.buf.set(bytes.subarray(header.headerLength, header.totalLength), w.pos);
  w.pos += header.bodyLength;
  return w.take();
}

/** Writes `serial` into the fixed header of `bytes`, in the message's byte order. */
export function setSerial(bytes: Uint8Array, serial: number): void {
  if (bytes[0] === 0x6c) {
    bytes[8] = serial; bytes[9] = serial >>> 8; bytes[10] = serial >>> 16; bytes[11] = serial >>> 24;
  } else {
    bytes[8] = serial >>> 24; bytes[9] = serial >>> 16; bytes[10] = serial >>> 8; bytes[11] = serial;
  }
}
