// Decoding a whole message (D-Bus specification, "Message Format"): the fixed
// header, the header fields (known ones checked for type and validity,
// unknown ones kept), the fields each message type requires, then the body.
// decodeHeader stops before the body, so that a broker routes on headers only.
import { ProtocolError } from '../errors.js';
import { checkBusName } from '../names/bus-name.js';
import { checkInterfaceName } from '../names/interface-name.js';
import { checkMemberName } from '../names/member-name.js';
import { checkObjectPath } from '../names/object-path.js';
import { decoder, KIND_BUS_NAME, KIND_INTERFACE, KIND_MEMBER, KIND_PATH, type Decoder, type DecodeOptions } from './decoder.js';
import { FIXED_HEADER_LENGTH, u32At } from './frame-length.js';
import type { HeaderMemo } from './header-memo.js';
import { MAX_ARRAY_LENGTH, MAX_MESSAGE_LENGTH } from './limits.js';
import { MessageType, type DecodedMessage, type MessageHeader, type UnknownHeaderField } from './message.js';
import { parseSignature, type SignatureType } from './signature.js';
import { Variant } from './variant.js';

/** Options for decodeMessage. */
export interface DecodeMessageOptions extends DecodeOptions {
  /** The number of fds that arrived with the message; UNIX_FDS must not exceed it. */
  fdCount?: number;
  /**
   * The last header decoded from the same source: a message whose header
   * fields are the same bytes (REPLY_SERIAL's value aside, read from each
   * message) takes its fields from it, unparsed; it remembers each new header
   * without unknown fields.
   */
  memo?: HeaderMemo;
}

function fail(code: string, message: string): never {
  throw new ProtocolError(code, message);
}

const FIELD_NAMES = ['', 'PATH', 'INTERFACE', 'MEMBER', 'ERROR_NAME', 'REPLY_SERIAL', 'DESTINATION', 'SENDER', 'SIGNATURE', 'UNIX_FDS'];
/** The signature character each known field must have. */
const FIELD_SIGS = [0, 0x6f, 0x73, 0x73, 0x73, 0x75, 0x73, 0x73, 0x67, 0x75];
const VARIANT: SignatureType = parseSignature('v')[0];

function checked(d: Decoder, code: number, kind: number, check: (s: string) => string | null, errorCode: string): string {
  const at = d.pos;
  const s = d.string();
  const rule = d.checkLast(s, kind, check);
  if (rule !== null) fail(errorCode, `header field ${FIELD_NAMES[code]} at offset ${at}: ${JSON.stringify(s)} ${rule}`);
  return s;
}

/**
 * Reads the header of the message at the start of `bytes` into a fresh
 * object (DecodedMessage when `withBody`, body left empty). `bytes` must
 * hold at least the header; with `exact`, exactly the whole message.
 */
function readHeader(d: Decoder, bytes: Uint8Array, exact: boolean, withBody: boolean, memo?: HeaderMemo): DecodedMessage | MessageHeader {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('decode needs a Uint8Array');
  const n = bytes.length;
  if (n < FIXED_HEADER_LENGTH) fail('TRUNCATED', `a message needs at least ${FIXED_HEADER_LENGTH} bytes, got ${n}`);
  const e = bytes[0];
  let little: boolean;
  if (e === 0x6c) little = true;
  else if (e === 0x42) little = false;
  else fail('BAD_ENDIAN', `invalid byte-order mark 0x${e.toString(16)} (expected 'l' or 'B')`);
  const type = bytes[1];
  const flags = bytes[2];
  if (bytes[3] !== 1) fail('BAD_VERSION', `unsupported protocol version ${bytes[3]}`);
  if (type === 0) fail('BAD_TYPE', 'message type 0 is invalid');
  const bodyLength = u32At(bytes, 4, little);
  const serial = u32At(bytes, 8, little);
  const fieldsLength = u32At(bytes, 12, little);
  if (serial === 0) fail('BAD_SERIAL', 'serial 0 is invalid');
  if (fieldsLength > MAX_ARRAY_LENGTH) fail('ARRAY_TOO_LONG', `header field array of ${fieldsLength} bytes exceeds the ${MAX_ARRAY_LENGTH}-byte limit`);
  const fieldsEnd = FIXED_HEADER_LENGTH + fieldsLength;
  const headerLength = (fieldsEnd + 7) & ~7;
  const totalLength = headerLength + bodyLength;
  if (totalLength > MAX_MESSAGE_LENGTH) fail('MESSAGE_TOO_LONG', `message of ${totalLength} bytes exceeds the ${MAX_MESSAGE_LENGTH}-byte limit`);
  if (exact ? n !== totalLength : n < headerLength) {
    fail(n < totalLength ? 'TRUNCATED' : 'TRAILING_BYTES', `message of ${totalLength} bytes (header ${headerLength}) given as ${n} bytes`);
  }
  d.reset(bytes, fieldsEnd, little);
  const endian = little ? 'little' : 'big';
  if (memo !== undefined && memo.matches(d.dv, d.base, e, type, headerLength)) {
    const signature = memo.signature;
    if (signature === undefined && bodyLength !== 0) fail('MISSING_HEADER_FIELD', `a body of ${bodyLength} bytes without a SIGNATURE field`);
    d.bodyTypes = memo.bodyTypes;
    d.pos = fieldsEnd;
    const { path, interface: iface, member, errorName, destination, sender, unixFds } = memo;
    const replySerial = memo.replySerialAt < 0 ? undefined : u32At(bytes, memo.replySerialAt, little);
    if (replySerial === 0) fail('BAD_HEADER_FIELD', 'REPLY_SERIAL 0 is invalid');
    const unknownFields = undefined;
    if (withBody) {
      return {
        endian, type, flags, serial, path, interface: iface, member, errorName, replySerial, destination, sender, signature, unixFds,
        bodyLength, headerLength, totalLength, unknownFields, body: [], fds: undefined,
      };
    }
    return {
      endian, type, flags, serial, path, interface: iface, member, errorName, replySerial, destination, sender, signature, unixFds,
      bodyLength, headerLength, totalLength, unknownFields,
    };
  }
  d.bodyTypes = undefined;
  d.pos = FIXED_HEADER_LENGTH;
  let path: string | undefined;
  let iface: string | undefined;
  let member: string | undefined;
  let errorName: string | undefined;
  let replySerial: number | undefined;
  let destination: string | undefined;
  let sender: string | undefined;
  let signature: string | undefined;
  let unixFds: number | undefined;
  let unknownFields: UnknownHeaderField[] | undefined;
  let replySerialAt = -1;
  let seen = 0;
  const b = d.buf;
  while (d.pos < fieldsEnd) {
    d.align8();
    d.need(4);
    const at = d.pos;
    const code = b[at];
    if (code === 0) fail('BAD_HEADER_FIELD', `header field code 0 at offset ${at} is invalid`);
    if (code <= 9) {
      if (seen & (1 << code)) fail('BAD_HEADER_FIELD', `header field ${FIELD_NAMES[code]} appears twice`);
      seen |= 1 << code;
      if (b[at + 1] !== 1 || b[at + 2] !== FIELD_SIGS[code] || b[at + 3] !== 0) {
        d.pos = at + 1;
        const sig = d.signature();
        fail('BAD_HEADER_FIELD', `header field ${FIELD_NAMES[code]} has signature ${JSON.stringify(sig)}, expected '${String.fromCharCode(FIELD_SIGS[code])}'`);
      }
      d.pos = at + 4;
      switch (code) {
        case 1: path = checked(d, code, KIND_PATH, checkObjectPath, 'BAD_PATH'); break;
        case 2: iface = checked(d, code, KIND_INTERFACE, checkInterfaceName, 'BAD_INTERFACE'); break;
        case 3: member = checked(d, code, KIND_MEMBER, checkMemberName, 'BAD_MEMBER'); break;
        case 4: errorName = checked(d, code, KIND_INTERFACE, checkInterfaceName, 'BAD_ERROR_NAME'); break;
        case 5:
          replySerialAt = d.pos;
          replySerial = d.u32();
          if (replySerial === 0) fail('BAD_HEADER_FIELD', 'REPLY_SERIAL 0 is invalid');
          break;
        case 6: destination = checked(d, code, KIND_BUS_NAME, checkBusName, 'BAD_BUS_NAME'); break;
        case 7: sender = checked(d, code, KIND_BUS_NAME, checkBusName, 'BAD_BUS_NAME'); break;
        case 8: {
          const types = d.signatureTypes();
          d.bodyTypes = types;
          signature = types.length === 1 ? types[0].signature : d.sigText;
          break;
        }
        case 9: unixFds = d.u32(); break;
      }
    } else {
      d.pos = at + 1;
      const value = d.value(VARIANT) as Variant;
      (unknownFields ??= []).push({ code, value });
    }
  }
  if (d.pos !== fieldsEnd) fail('BAD_HEADER_FIELD', `the last header field ends at ${d.pos}, past the field array's end ${fieldsEnd}`);
  for (let p = fieldsEnd; p < headerLength; p++) if (b[p] !== 0) fail('BAD_PADDING', `header padding byte at offset ${p} is not zero`);
  switch (type) {
    case MessageType.METHOD_CALL:
      if (path === undefined || member === undefined) fail('MISSING_HEADER_FIELD', `a METHOD_CALL needs ${path === undefined ? 'PATH' : 'MEMBER'}`);
      break;
    case MessageType.SIGNAL:
      if (path === undefined || iface === undefined || member === undefined) {
        fail('MISSING_HEADER_FIELD', `a SIGNAL needs ${path === undefined ? 'PATH' : iface === undefined ? 'INTERFACE' : 'MEMBER'}`);
      }
      break;
    case MessageType.ERROR:
      if (errorName === undefined || replySerial === undefined) fail('MISSING_HEADER_FIELD', `an ERROR needs ${errorName === undefined ? 'ERROR_NAME' : 'REPLY_SERIAL'}`);
      break;
    case MessageType.METHOD_RETURN:
      if (replySerial === undefined) fail('MISSING_HEADER_FIELD', 'a METHOD_RETURN needs REPLY_SERIAL');
      break;
  }
  if (signature === undefined && bodyLength !== 0) fail('MISSING_HEADER_FIELD', `a body of ${bodyLength} bytes without a SIGNATURE field`);
  if (memo !== undefined) {
    if (unknownFields === undefined) {
      memo.keep(d.dv, d.base, e, type, headerLength, { path, interface: iface, member, errorName, destination, sender, signature, unixFds }, d.bodyTypes, replySerialAt);
    } else memo.clear();
  }
  if (withBody) {
    return {
      endian, type, flags, serial, path, interface: iface, member, errorName, replySerial, destination, sender, signature, unixFds,
      bodyLength, headerLength, totalLength, unknownFields, body: [], fds: undefined,
    };
  }
  return {
    endian, type, flags, serial, path, interface: iface, member, errorName, replySerial, destination, sender, signature, unixFds,
    bodyLength, headerLength, totalLength, unknownFields,
  };
}

/**
 * Checks UNIX_FDS against the fds that arrived and points `d` at the body of
 * the message whose header `h` it just read: returns the body's types, or
 * null when the signature is empty (and so must the body be).
 */
function startBody(d: Decoder, h: MessageHeader, fdCount: number | undefined): readonly SignatureType[] | null {
  const unixFds = h.unixFds ?? 0;
  if (fdCount !== undefined && unixFds > fdCount) {
    fail('BAD_FD', `UNIX_FDS says ${unixFds} fds but ${fdCount} arrived with the message`);
  }
  if (h.signature === undefined || h.signature === '') {
    if (h.bodyLength !== 0) fail('TRAILING_BYTES', `a body of ${h.bodyLength} bytes with an empty signature`);
    return null;
  }
  d.pos = h.headerLength;
  d.end = h.totalLength;
  d.unixFds = unixFds;
  return d.bodyTypes ?? parseSignature(h.signature);
}

/** Checks that the body's values, read by `d`, took up the whole body. */
function endBody(d: Decoder, h: MessageHeader): void {
  if (d.pos !== h.totalLength) fail('TRAILING_BYTES', `${h.totalLength - d.pos} bytes left in the body after its values`);
}

/**
 * Decodes the header of the message at the start of `bytes` (which must hold
 * at least the whole header) without touching the body. Throws ProtocolError.
 */
export function decodeHeader(bytes: Uint8Array): MessageHeader {
  try {
    return readHeader(decoder, bytes, false, false);
  } finally {
    decoder.release();
  }
}

/**
 * Decodes one whole message: `bytes` must be exactly one message (see
 * frameLength). Throws ProtocolError with a `code` on any malformation.
 */
export function decodeMessage(bytes: Uint8Array, options?: DecodeMessageOptions): DecodedMessage {
  const d = decoder;
  try {
    const m = readHeader(d, bytes, true, true, options?.memo) as DecodedMessage;
    const types = startBody(d, m, options?.fdCount);
    if (types !== null) {
      d.zeroCopy = options?.zeroCopy === true;
      d.dictAsObject = options?.dictAsObject === true;
      // One or two values (most bodies): an array of just that size (pushed, they would get room for 17).
      if (types.length === 1) m.body = [d.value(types[0])];
      else if (types.length === 2) m.body = [d.value(types[0]), d.value(types[1])];
      else {
        const body = m.body;
        for (let i = 0; i < types.length; i++) body.push(d.value(types[i]));
      }
      endBody(d, m);
    }
    return m;
  } finally {
    d.release();
  }
}

/**
 * Checks one whole message as strictly as decodeMessage, without building
 * its body: returns the header (a broker that forwards bodies untouched still
 * refuses malformed ones). Throws ProtocolError.
 */
export function checkMessage(bytes: Uint8Array, options?: { fdCount?: number }): MessageHeader {
  const d = decoder;
  try {
    const h = readHeader(d, bytes, true, false) as MessageHeader;
    const types = startBody(d, h, options?.fdCount);
    if (types !== null) {
      for (let i = 0; i < types.length; i++) d.skip(types[i]);
      endBody(d, h);
    }
    return h;
  } finally {
    d.release();
  }
}
