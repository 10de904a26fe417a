// How long a whole message is, from its first 16 bytes (D-Bus specification,
// "Message Format"): the fixed header gives the body length and the length of
// the header-field array; the header is padded to 8. Transports use it to
// read many messages per system call.
import { ProtocolError } from '../errors.js';
import { MAX_MESSAGE_LENGTH, MAX_ARRAY_LENGTH } from './limits.js';

/** Bytes in the fixed part of the header, up to and including the field array's length. */
export const FIXED_HEADER_LENGTH = 16;

/** The unsigned 32-bit integer at `b[p]` in the given byte order (no DataView needed). */
export function u32At(b: Uint8Array, p: number, little: boolean): number {
  return little
    ? (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0
    : ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}

/**
 * The total length of the message that starts at `bytes[offset]`, or -1 when
 * fewer than 16 bytes are there yet. Throws ProtocolError when the fixed
 * header is invalid or the message would exceed MAX_MESSAGE_LENGTH.
 */
export function frameLength(bytes: Uint8Array, offset = 0): number {
  if (bytes.length - offset < FIXED_HEADER_LENGTH) return -1;
  const endian = bytes[offset];
  let little: boolean;
  if (endian === 0x6c) little = true;
  else if (endian === 0x42) little = false;
  else throw new ProtocolError('BAD_ENDIAN', `invalid byte-order mark 0x${endian.toString(16)} (expected 'l' or 'B')`);
  if (bytes[offset + 3] !== 1) throw new ProtocolError('BAD_VERSION', `unsupported protocol version ${bytes[offset + 3]}`);
  const bodyLength = u32At(bytes, offset + 4, little);
  const fieldsLength = u32At(bytes, offset + 12, little);
  if (fieldsLength > MAX_ARRAY_LENGTH) {
    throw new ProtocolError('ARRAY_TOO_LONG', `header field array of ${fieldsLength} bytes exceeds the ${MAX_ARRAY_LENGTH}-byte array limit`);
  }
  const headerLength = (FIXED_HEADER_LENGTH + fieldsLength + 7) & ~7;
  const total = headerLength + bodyLength;
  if (total > MAX_MESSAGE_LENGTH) {
    throw new ProtocolError('MESSAGE_TOO_LONG', `message of ${total} bytes exceeds the ${MAX_MESSAGE_LENGTH}-byte limit`);
  }
  return total;
}
