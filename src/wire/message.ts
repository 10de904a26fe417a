// The message model (D-Bus specification, "Message Format"): the four message
// types, the flags, the header fields and what each type requires. Bytes are
// made by encodeMessage and read by decodeMessage/decodeHeader.
import type { Variant } from './variant.js';

/** Message types ("Message Types"). Other values are unknown types, which receivers ignore. */
export const MessageType = { METHOD_CALL: 1, METHOD_RETURN: 2, ERROR: 3, SIGNAL: 4 } as const;
/** Header flags ("Message Format" > flags). Unknown flags are ignored. */
export const MessageFlags = { NO_REPLY_EXPECTED: 1, NO_AUTO_START: 2, ALLOW_INTERACTIVE_AUTHORIZATION: 4 } as const;
/** Header field codes ("Header Fields"). */
export const HeaderField = {
  PATH: 1, INTERFACE: 2, MEMBER: 3, ERROR_NAME: 4, REPLY_SERIAL: 5, DESTINATION: 6, SENDER: 7, SIGNATURE: 8, UNIX_FDS: 9,
} as const;

/** A D-Bus message as JavaScript values. */
export interface Message {
  /** One of MessageType. */
  type: number;
  /** Bitwise OR of MessageFlags. */
  flags: number;
  /** Nonzero; chosen by the sender. */
  serial: number;
  path?: string;
  interface?: string;
  member?: string;
  errorName?: string;
  replySerial?: number;
  destination?: string;
  sender?: string;
  /** The body's signature; absent or '' for an empty body. */
  signature?: string;
  /** The number of unix fds the message carries (header field UNIX_FDS). */
  unixFds?: number;
  /** The body values, one per complete type of `signature`. */
  body: unknown[];
  /** The actual file descriptors, set by transports; `h` values index into it. */
  fds?: number[];
  /** Header fields with codes this library does not know (as decoded); written again by encodeMessage. */
  unknownFields?: UnknownHeaderField[];
}

/** A header field this library does not know, kept as received. */
export interface UnknownHeaderField {
  code: number;
  value: Variant;
}

/** What decodeHeader returns: every header field, and where the body lies. */
export interface MessageHeader {
  endian: 'little' | 'big';
  type: number;
  flags: number;
  serial: number;
  path: string | undefined;
  interface: string | undefined;
  member: string | undefined;
  errorName: string | undefined;
  replySerial: number | undefined;
  destination: string | undefined;
  sender: string | undefined;
  signature: string | undefined;
  unixFds: number | undefined;
  /** Body bytes. */
  bodyLength: number;
  /** Offset of the body: the header including its padding to 8. */
  headerLength: number;
  /** headerLength + bodyLength. */
  totalLength: number;
  /** Header fields with codes this library does not know, in wire order; undefined when none. */
  unknownFields: UnknownHeaderField[] | undefined;
}

/** What decodeMessage returns: the header and the decoded body. */
export interface DecodedMessage extends MessageHeader {
  body: unknown[];
  fds: number[] | undefined;
}
