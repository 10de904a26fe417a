// The last header decoded from one source of messages (a direct peer's
// channel, say), kept so that the next message whose header fields are the
// same bytes is not parsed and checked again: a sender repeats its headers
// (a flood of one signal differs only in serial and body). The fields'
// meaning and validity follow from their bytes, the byte order and the
// message type alone, so equal bytes decode to equal fields.
import type { SignatureType } from './signature.js';

/** The fields a memo keeps. */
export interface HeaderFields {
  path: string | undefined;
  interface: string | undefined;
  member: string | undefined;
  errorName: string | undefined;
  destination: string | undefined;
  sender: string | undefined;
  signature: string | undefined;
  unixFds: number | undefined;
}

/** The header fields of the last message decoded through this memo (see DecodeMessageOptions.memo). */
export class HeaderMemo {
  /** Byte 0 (order) and 1 (type) of the remembered header, `order << 8 | type`; -1: none. */
  key = -1;
  /** The header's length, padding included. */
  headerLength = 0;
  /** Its bytes from offset 12 (the field array's length) to headerLength, as little-endian words. */
  words: Int32Array = new Int32Array(0);
  path: string | undefined = undefined;
  interface: string | undefined = undefined;
  member: string | undefined = undefined;
  errorName: string | undefined = undefined;
  destination: string | undefined = undefined;
  sender: string | undefined = undefined;
  signature: string | undefined = undefined;
  unixFds: number | undefined = undefined;
  bodyTypes: readonly SignatureType[] | undefined = undefined;
  /**
   * Where the REPLY_SERIAL value lies (from the message's start; -1: no such field): the one
   * word not compared, read from each message (a caller's replies differ only there).
   */
  replySerialAt = -1;

  /**
   * Whether the header of `bytes` (order `e`, `type`, `headerLength` long) has
   * the remembered fields: `dv` reads the input's buffer, where the message starts at `base`.
   */
  matches(dv: DataView, base: number, e: number, type: number, headerLength: number): boolean {
    if (this.key !== ((e << 8) | type) || this.headerLength !== headerLength) return false;
    const words = this.words;
    const at = base + 12;
    const skip = this.replySerialAt < 0 ? -1 : (this.replySerialAt - 12) >> 2;
    for (let k = 0; k < words.length; k++) if (k !== skip && dv.getInt32(at + 4 * k, true) !== words[k]) return false;
    return true;
  }

  /**
   * Remembers the header just decoded from `dv` at `base` (one without unknown fields) and its
   * fields; its REPLY_SERIAL value, if any, is at `replySerialAt` (-1: none).
   */
  keep(
    dv: DataView, base: number, e: number, type: number, headerLength: number, h: HeaderFields, bodyTypes: readonly SignatureType[] | undefined, replySerialAt = -1,
  ): void {
    const n = (headerLength - 12) >> 2;
    if (this.words.length !== n) this.words = new Int32Array(n);
    for (let k = 0; k < n; k++) this.words[k] = dv.getInt32(base + 12 + 4 * k, true);
    this.key = (e << 8) | type;
    this.headerLength = headerLength;
    this.path = h.path;
    this.interface = h.interface;
    this.member = h.member;
    this.errorName = h.errorName;
    this.destination = h.destination;
    this.sender = h.sender;
    this.signature = h.signature;
    this.unixFds = h.unixFds;
    this.bodyTypes = bodyTypes;
    this.replySerialAt = replySerialAt;
  }

  /** Forgets the remembered header. */
  clear(): void {
    this.key = -1;
  }
}
