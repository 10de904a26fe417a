// Encoding a whole message (D-Bus specification, "Message Format"): the fixed
// header, the header fields, padding to 8, then the body, in one buffer.
// Checks the message against its type's required fields and every name rule;
// sets SIGNATURE from `signature` and UNIX_FDS from the fds the body uses.
import { checkBusName } from '../names/bus-name.js';
import { checkInterfaceName } from '../names/interface-name.js';
import { checkMemberName } from '../names/member-name.js';
import { checkObjectPath } from '../names/object-path.js';
import { EncodeError } from './encode-error.js';
import { Encoder, encoder, type Span } from './encoder.js';
import type { HeaderTemplate } from './header-template.js';
import { validSignatureList } from './caller-signature.js';
import { MAX_ARRAY_LENGTH, MAX_MESSAGE_LENGTH } from './limits.js';
import { HeaderField, MessageType, type Message, type UnknownHeaderField } from './message.js';
import { parseSignature, type SignatureType } from './signature.js';

/** Options for encodeMessage. */
export interface EncodeOptions {
  /** Byte order of the bytes made; little-endian by default. */
  endian?: 'little' | 'big';
}

/** The header values written by writeHeader (a Message or a decoded MessageHeader). */
export interface HeaderValues {
  type: number;
  flags: number;
  serial: number;
  path?: string | undefined;
  interface?: string | undefined;
  member?: string | undefined;
  errorName?: string | undefined;
  replySerial?: number | undefined;
  destination?: string | undefined;
  sender?: string | undefined;
  signature?: string | undefined;
  unixFds?: number | undefined;
}

const NO_TYPES: readonly SignatureType[] = [];

/**
 * The last valid name seen per header field (indexed by `slot`, an array so
 * that the lookup is not a megamorphic keyed load): a sender repeats its
 * names, so most checks are one comparison.
 */
const lastValid = ['', '', '', '', '', ''];

function checkName(slot: number, what: string, v: unknown, check: (s: string) => string | null): void {
  if (v === undefined) return;
  if (typeof v !== 'string') throw new EncodeError(`expected a string, got ${typeof v}`, what);
  if (v === lastValid[slot] && v !== '') return;
  const rule = check(v);
  if (rule !== null) throw new EncodeError(`${JSON.stringify(v)} ${rule}`, what);
  lastValid[slot] = v;
}

function checkU32(what: string, v: unknown, nonzero: boolean): void {
  if (typeof v !== 'number' || v >>> 0 !== v || (nonzero && v === 0)) {
    throw new EncodeError(`expected ${nonzero ? 'a nonzero' : 'an'} uint32, got ${String(v)}`, what);
  }
}

/** Checks the header values of a message to be sent; throws EncodeError. */
export function checkHeader(h: HeaderValues): void {
  if (h === null || typeof h !== 'object') throw new EncodeError('a message must be an object');
  const t = h.type;
  if (t !== MessageType.METHOD_CALL && t !== MessageType.METHOD_RETURN && t !== MessageType.ERROR && t !== MessageType.SIGNAL) {
    throw new EncodeError(`expected 1 (METHOD_CALL), 2 (METHOD_RETURN), 3 (ERROR) or 4 (SIGNAL), got ${String(t)}`, 'type');
  }
  if (typeof h.flags !== 'number' || (h.flags & 0xff) !== h.flags) throw new EncodeError(`expected an integer 0..255, got ${String(h.flags)}`, 'flags');
  checkU32('serial', h.serial, true);
  checkName(0, 'path', h.path, checkObjectPath);
  checkName(1, 'interface', h.interface, checkInterfaceName);
  checkName(2, 'member', h.member, checkMemberName);
  checkName(3, 'errorName', h.errorName, checkInterfaceName);
  checkName(4, 'destination', h.destination, checkBusName);
  checkName(5, 'sender', h.sender, checkBusName);
  if (h.replySerial !== undefined) checkU32('replySerial', h.replySerial, true);
  if (h.unixFds !== undefined) checkU32('unixFds', h.unixFds, false);
  const missing = (f: string) => new EncodeError(`a ${['', 'METHOD_CALL', 'METHOD_RETURN', 'ERROR', 'SIGNAL'][t]} requires ${f}`);
  if (t === MessageType.METHOD_CALL) {
    if (h.path === undefined) throw missing('path');
    if (h.member === undefined) throw missing('member');
  } else if (t === MessageType.SIGNAL) {
    if (h.path === undefined) throw missing('path');
    if (h.interface === undefined) throw missing('interface');
    if (h.member === undefined) throw missing('member');
  } else if (t === MessageType.ERROR) {
    if (h.errorName === undefined) throw missing('errorName');
    if (h.replySerial === undefined) throw missing('replySerial');
  } else if (h.replySerial === undefined) throw missing('replySerial');
}

function stringField(w: Encoder, code: number, sigChar: number, s: string): void {
  w.align(8);
  w.ensure(4);
  const b = w.buf;
  const p = w.pos;
  b[p] = code;
  b[p + 1] = 1;
  b[p + 2] = sigChar;
  b[p + 3] = 0;
  w.pos = p + 4;
  w.string(s, sigChar === 0x67 ? 1 : 4);
}

function u32Field(w: Encoder, code: number, v: number): void {
  w.align(8);
  w.ensure(8);
  const b = w.buf;
  const p = w.pos;
  b[p] = code;
  b[p + 1] = 1;
  b[p + 2] = 0x75;
  b[p + 3] = 0;
  w.dv.setUint32(p + 4, v, w.little);
  w.pos = p + 8;
}

/**
 * Writes the fixed header and the header fields, padded to 8, at the start
 * of `w` (already reset). The body length is written as `bodyLength`; the
 * caller patches it (at offset 4) when it is known only later. UNIX_FDS is
 * written as `unixFds` (omitted when 0), SIGNATURE as `h.signature` (omitted when '').
 */
export function writeHeader(w: Encoder, h: HeaderValues, bodyLength: number, unixFds: number, unknownFields?: readonly UnknownHeaderField[]): void {
  w.ensure(16);
  const b = w.buf;
  b[0] = w.little ? 0x6c : 0x42;
  b[1] = h.type;
  b[2] = h.flags;
  b[3] = 1;
  w.dv.setUint32(4, bodyLength, w.little);
  w.dv.setUint32(8, h.serial, w.little);
  w.pos = 16;
  const t = unknownFields === undefined ? w.header : undefined;
  const same = t !== undefined && sameFields(t, h, unixFds, w.little);
  if (same && t.bytes !== undefined) {
    const n = t.bytes.length;
    w.ensure(n + 8);
    w.buf.set(t.bytes, 16);
    if (t.replySerialAt >= 0) w.dv.setUint32(t.replySerialAt, h.replySerial!, w.little);
    w.pos = 16 + n;
    w.dv.setUint32(12, n, w.little);
    w.align(8);
    return;
  }
  const fieldsLength = writeFields(w, h, unixFds, unknownFields);
  if (unknownFields !== undefined) return;
  if (same) {
    // The second message in a row with these fields: keep their bytes for the next ones.
    const bytes = new Uint8Array(fieldsLength);
    bytes.set(w.buf.subarray(16, 16 + fieldsLength));
    t.bytes = bytes;
  } else if (t === undefined) {
    w.header = {
      little: w.little, path: h.path, interface: h.interface, member: h.member, errorName: h.errorName,
      destination: h.destination, sender: h.sender, signature: h.signature, unixFds,
      replySerialAt: h.replySerial === undefined ? -1 : replySerialAt, bytes: undefined,
    };
  } else {
    // Overwritten in place: an encoder whose headers keep changing (a broker's) allocates nothing here.
    t.little = w.little;
    t.path = h.path;
    t.interface = h.interface;
    t.member = h.member;
    t.errorName = h.errorName;
    t.destination = h.destination;
    t.sender = h.sender;
    t.signature = h.signature;
    t.unixFds = unixFds;
    t.replySerialAt = h.replySerial === undefined ? -1 : replySerialAt;
    t.bytes = undefined;
  }
}

/** Where writeFields put the REPLY_SERIAL value of the last header it wrote. */
let replySerialAt = -1;

function sameFields(t: HeaderTemplate, h: HeaderValues, unixFds: number, little: boolean): boolean {
  return t.path === h.path && t.interface === h.interface && t.member === h.member && t.destination === h.destination &&
    t.signature === h.signature && t.sender === h.sender && t.errorName === h.errorName && t.unixFds === unixFds &&
    t.little === little && (t.replySerialAt >= 0) === (h.replySerial !== undefined);
}

/** Writes the header fields after the fixed header, then pads to 8; returns their length. */
function writeFields(w: Encoder, h: HeaderValues, unixFds: number, unknownFields: readonly UnknownHeaderField[] | undefined): number {
  if (h.path !== undefined) stringField(w, HeaderField.PATH, 0x6f, h.path);
  if (h.interface !== undefined) stringField(w, HeaderField.INTERFACE, 0x73, h.interface);
  if (h.member !== undefined) stringField(w, HeaderField.MEMBER, 0x73, h.member);
  if (h.errorName !== undefined) stringField(w, HeaderField.ERROR_NAME, 0x73, h.errorName);
  if (h.replySerial !== undefined) {
    u32Field(w, HeaderField.REPLY_SERIAL, h.replySerial);
    replySerialAt = w.pos - 4;
  }
  if (h.destination !== undefined) stringField(w, HeaderField.DESTINATION, 0x73, h.destination);
  if (h.sender !== undefined) stringField(w, HeaderField.SENDER, 0x73, h.sender);
  if (h.signature !== undefined && h.signature !== '') stringField(w, HeaderField.SIGNATURE, 0x67, h.signature);
  if (unixFds !== 0) u32Field(w, HeaderField.UNIX_FDS, unixFds);
  if (unknownFields !== undefined) {
    for (const f of unknownFields) {
      if (typeof f?.code !== 'number' || f.code < 10 || f.code > 255 || (f.code | 0) !== f.code) {
        throw new EncodeError(`expected a field code 10..255 (codes 1..9 have their own properties), got ${String(f?.code)}`, 'unknownFields');
      }
      w.align(8);
      w.u8(f.code);
      w.value(VARIANT, f.value);
    }
  }
  const fieldsLength = w.pos - 16;
  if (fieldsLength > MAX_ARRAY_LENGTH) throw new EncodeError(`header fields of ${fieldsLength} bytes exceed the ${MAX_ARRAY_LENGTH}-byte array limit`);
  w.dv.setUint32(12, fieldsLength, w.little);
  w.align(8);
  return fieldsLength;
}

const VARIANT: SignatureType = parseSignature('v')[0];

/**
 * Encodes a message. Validates the header (type, serial, names, required
 * fields) and the body against `signature`; sets the SIGNATURE field from
 * `signature` and UNIX_FDS from `fds.length`, else `unixFds`, else one more
 * than the largest `h` index in the body. Throws EncodeError (a TypeError) saying where it failed.
 */
export function encodeMessage(msg: Message, options?: EncodeOptions): Buffer {
  encodeWith(encoder, msg, options);
  return encoder.take();
}

/**
 * A message whose large `ay` values were left out of its buffer: its bytes are
 * `head` with each span's bytes inserted at the span's offset (`at`, into head),
 * `byteLength` in all. Made by encodeMessageParts; joinParts makes one buffer of it.
 */
export interface EncodedParts {
  head: Buffer;
  spans: readonly Span[];
  byteLength: number;
}

const partsEncoder = new Encoder();

/**
 * Like encodeMessage, but `ay` values of at least `spanMinBytes` bytes are not
 * copied: the result is then EncodedParts that refer to them (a sender that
 * copies the message into shared memory copies each byte once). Without such
 * a value it is the Buffer encodeMessage returns.
 */
export function encodeMessageParts(msg: Message, spanMinBytes: number, options?: EncodeOptions): Buffer | EncodedParts {
  const w = partsEncoder;
  w.spanMinBytes = spanMinBytes;
  encodeWith(w, msg, options);
  if (w.skipped === 0) return w.take();
  const spans = w.spans;
  const byteLength = w.pos + w.skipped;
  return { head: w.take(), spans, byteLength };
}

/** Calls `visit` with each piece of `parts`, in order (views, no copies). */
export function forEachPart(parts: EncodedParts, visit: (bytes: Uint8Array) => void): void {
  let from = 0;
  const head = parts.head;
  for (const span of parts.spans) {
    if (span.at > from) visit(head.subarray(from, span.at));
    visit(span.bytes);
    from = span.at;
  }
  if (head.length > from) visit(head.subarray(from));
}

/** The bytes of `parts` in one new buffer. */
export function joinParts(parts: EncodedParts): Buffer {
  const out = Buffer.allocUnsafe(parts.byteLength);
  let at = 0;
  forEachPart(parts, (bytes) => {
    out.set(bytes, at);
    at += bytes.length;
  });
  return out;
}

/**
 * Encodes messages into a buffer of its own that it reuses: `encode` returns
 * a view that stays valid only until the next `encode`. For a transport that
 * hands the bytes to the kernel at once, this saves allocating a buffer per
 * message (which costs more than copying a large body).
 */
export class MessageEncoder {
  private readonly w = new Encoder();
  /** Like encodeMessage, but the bytes are a view of this encoder's buffer, overwritten by the next call. */
  encode(msg: Message, options?: EncodeOptions): Buffer {
    encodeWith(this.w, msg, options);
    return this.w.view();
  }

  /**
   * Like encodeMessageParts, but a result (or its `head`) of at most
   * `viewMaxBytes` is a view of this encoder's buffer, overwritten by the next
   * call; a larger one is the caller's own (the encoder keeps no grown buffer for it).
   */
  encodeParts(msg: Message, spanMinBytes: number, viewMaxBytes: number, options?: EncodeOptions): Buffer | EncodedParts {
    const w = this.w;
    w.spanMinBytes = spanMinBytes;
    encodeWith(w, msg, options);
    const skipped = w.skipped;
    const spans = w.spans;
    const head = w.pos <= viewMaxBytes ? w.view() : w.take();
    if (skipped === 0) return head;
    return { head, spans, byteLength: head.length + skipped };
  }
}

function encodeWith(w: Encoder, msg: Message, options: EncodeOptions | undefined): void {
  checkHeader(msg);
  const body = msg.body ?? [];
  if (!Array.isArray(body)) throw new EncodeError('expected an array of values', 'body');
  const sig = msg.signature ?? '';
  const types = sig === '' ? NO_TYPES : validSignatureList(sig);
  if (types.length !== body.length) {
    throw new EncodeError(`signature ${JSON.stringify(sig)} has ${types.length} complete types but the body has ${body.length} values`, 'body');
  }
  const given = msg.fds !== undefined ? msg.fds.length : msg.unixFds;
  const little = options?.endian !== 'big';
  try {
    let unixFds = given ?? 0;
    encodeInto(w, little, msg, types, body, unixFds);
    if (w.maxFd >= unixFds) {
      if (given !== undefined) throw new EncodeError(`the body refers to unix fd index ${w.maxFd} but the message carries ${unixFds} fds`, 'body');
      unixFds = w.maxFd + 1;
      encodeInto(w, little, msg, types, body, unixFds);
    }
  } catch (e) {
    w.reset(true);
    throw e;
  }
}
function encodeInto(w: Encoder, little: boolean, msg: Message, types: readonly SignatureType[], body: readonly unknown[], unixFds: number): void {
  w.reset(little);
  writeHeader(w, msg, 0, unixFds, msg.unknownFields);
  const bodyStart = w.pos;
  for (let i = 0; i < types.length; i++) {
    try {
      w.value(types[i], body[i]);
    } catch (e) {
      if (e instanceof EncodeError) throw e.within(`body[${i}]`);
      throw e;
    }
  }
  const length = w.pos + w.skipped;
  if (length > MAX_MESSAGE_LENGTH) throw new EncodeError(`message of ${length} bytes exceeds the ${MAX_MESSAGE_LENGTH}-byte limit`);
  w.dv.setUint32(4, length - bodyStart, w.little);
}
