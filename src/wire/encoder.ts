// Marshaling of values (D-Bus specification, "Marshaling (Wire Format)"):
// an Encoder writes values along a parsed SignatureType tree into one growing
// buffer, padding to each type's alignment relative to the message start.
// Checks every JavaScript value against its type; errors say where they failed.
// Kept whole: one class holds the per-type write paths, the growing buffer
// they share and the header template an encoder reuses across messages (the
// repeated-fields copy that made a one-string call encode 2.3x faster); they
// call one another on every value, and V8 inlines them only within the class.
// Around it: encode-error.ts (its errors' text), caller-signature.ts (a
// caller's signature checked), header-template.ts, encode-values.ts (a body
// alone) and encode-message.ts (whole messages).
import { MAX_ARRAY_DEPTH, MAX_ARRAY_LENGTH, MAX_STRUCT_DEPTH, MAX_TOTAL_DEPTH } from './limits.js';
import { type SignatureType } from './signature.js';
import { Variant } from './variant.js';
import { EncodeError, describeValue, mismatch } from './encode-error.js';
import { validSignature } from './caller-signature.js';
import { checkObjectPath } from '../names/object-path.js';
import type { HeaderTemplate } from './header-template.js';

const SCRATCH_BYTES = 64 * 1024;

/** Bytes of a message left out of the encoder's buffer, to be inserted at its offset `at`. */
export interface Span {
  at: number;
  bytes: Uint8Array;
}

/**
 * Writes D-Bus values into a growing buffer. One module-level instance is
 * reused for every message (encoding is synchronous); `take()` hands out the
 * bytes and leaves the encoder ready for the next message.
 */
export class Encoder {
  private scratch: Buffer = Buffer.allocUnsafeSlow(SCRATCH_BYTES);
  private scratchDv = new DataView(this.scratch.buffer, this.scratch.byteOffset, this.scratch.byteLength);
  buf: Buffer = this.scratch;
  dv: DataView = this.scratchDv;
  pos = 0;
  little = true;
  /** The largest unix-fd index written, -1 if none. */
  maxFd = -1;
  private depth = 0;
  private arrays = 0;
  private structs = 0;
  /** The header fields of the last message written, kept as bytes once they repeat (see writeHeader). */
  header: HeaderTemplate | undefined;
  /**
   * `ay` values of at least this many bytes are not copied but kept as spans (0: never): the
   * message is then the buffer with each span's bytes inserted at its `at` (see EncodedParts).
   */
  spanMinBytes = 0;
  /** The spans of the message being written, in order, and the bytes they hold (a multiple of 8). */
  spans: Span[] = [];
  skipped = 0;

  /** Starts a new message in the given byte order. */
  reset(little: boolean): void {
    this.buf = this.scratch;
    this.dv = this.scratchDv;
    this.pos = 0;
    this.little = little;
    this.maxFd = -1;
    this.depth = this.arrays = this.structs = 0;
    if (this.skipped !== 0) {
      this.spans = [];
      this.skipped = 0;
    }
  }

  /** The bytes written so far, as a Buffer the caller owns. */
  take(): Buffer {
    const n = this.pos;
    let out: Buffer;
    if (this.buf === this.scratch) {
      out = Buffer.allocUnsafe(n);
      this.scratch.copy(out, 0, 0, n);
    } else {
      out = this.buf.subarray(0, n);
    }
    this.reset(this.little);
    return out;
  }

  /**
   * The bytes written so far as a view of this encoder's own buffer, valid
   * until its next message; a grown buffer is kept for the messages after.
   */
  view(): Buffer {
    const n = this.pos;
    let out = this.lastView;
    // The same length again (a client's calls, a service's replies): the same view, not a new one.
    if (out === undefined || out.length !== n || this.lastViewOf !== this.buf) {
      out = this.buf.subarray(0, n);
      this.lastView = out;
      this.lastViewOf = this.buf;
    }
    this.scratch = this.buf;
    this.scratchDv = this.dv;
    this.reset(this.little);
    return out;
  }

  /** The last view() made, and the buffer it is a view of. */
  private lastView: Buffer | undefined = undefined;
  private lastViewOf: Buffer | undefined = undefined;

  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  private grow(n: number): void {
    const need = this.pos + n;
    const size = Math.max(need + 4096, this.buf.length * 2);
    const next = Buffer.allocUnsafeSlow(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.dv = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  /** Pads with zero bytes to a multiple of `a` (1, 2, 4 or 8). */
  align(a: number): void {
    let p = this.pos;
    const q = (p + a - 1) & -a;
    if (q === p) return;
    this.ensure(q - p);
    const b = this.buf;
    while (p < q) b[p++] = 0;
    this.pos = q;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u32(v: number): void {
    this.align(4);
    this.ensure(4);
    this.dv.setUint32(this.pos, v, this.little);
    this.pos += 4;
  }

  /** Writes the UTF-8 of `s` followed by NUL, after a length of `lenBytes` (4, or 1 for signatures). */
  string(s: string, lenBytes: 4 | 1): void {
    if (lenBytes === 4) this.align(4);
    const n = s.length;
    this.ensure(lenBytes + n * 3 + 1);
    const b = this.buf;
    const start = this.pos + lenBytes;
    let p = start;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80 || c === 0) break;
      b[p++] = c;
    }
    if (i < n) {
      if (s.includes('\0')) throw new EncodeError(`string contains a NUL character at ${s.indexOf('\0')}`);
      if (!(s as unknown as { isWellFormed(): boolean }).isWellFormed()) throw new EncodeError('string contains a lone UTF-16 surrogate (not valid Unicode)');
      p = start + b.write(s, start, 'utf8');
    }
    const len = p - start;
    if (lenBytes === 4) this.dv.setUint32(this.pos, len, this.little);
    else {
      if (len > 255) throw new EncodeError(`signature of ${len} bytes is too long`);
      b[this.pos] = len;
    }
    b[p++] = 0;
    this.pos = p;
  }

  /** Writes one value of type `t`. Throws EncodeError when `v` does not fit. */
  value(t: SignatureType, v: unknown): void {
    switch (t.tag) {
      case 0x79: { // y
        if (typeof v !== 'number' || (v & 0xff) !== v) throw mismatch('byte (integer 0..255)', v);
        this.ensure(1);
        this.buf[this.pos++] = v;
        return;
      }
      case 0x62: { // b
        if (typeof v !== 'boolean') throw mismatch('boolean', v);
        this.u32(v ? 1 : 0);
        return;
      }
      case 0x6e: { // n
        if (typeof v !== 'number' || ((v << 16) >> 16) !== v) throw mismatch('int16', v);
        this.align(2);
        this.ensure(2);
        this.dv.setInt16(this.pos, v, this.little);
        this.pos += 2;
        return;
      }
      case 0x71: { // q
        if (typeof v !== 'number' || (v & 0xffff) !== v) throw mismatch('uint16', v);
        this.align(2);
        this.ensure(2);
        this.dv.setUint16(this.pos, v, this.little);
        this.pos += 2;
        return;
      }
      case 0x69: { // i
        if (typeof v !== 'number' || (v | 0) !== v) throw mismatch('int32', v);
        this.align(4);
        this.ensure(4);
        this.dv.setInt32(this.pos, v, this.little);
        this.pos += 4;
        return;
      }
      case 0x75: { // u
        if (typeof v !== 'number' || v >>> 0 !== v) throw mismatch('uint32', v);
        this.u32(v);
        return;
      }
      case 0x68: { // h
        if (typeof v !== 'number' || v >>> 0 !== v) throw mismatch('unix fd index (uint32)', v);
        if (v > this.maxFd) this.maxFd = v;
        this.u32(v);
        return;
      }
      case 0x78: { // x
        let x: bigint;
        if (typeof v === 'bigint') {
          if (BigInt.asIntN(64, v) !== v) throw mismatch('int64', v);
          x = v;
        } else if (typeof v === 'number' && Number.isSafeInteger(v)) x = BigInt(v);
        else throw mismatch('int64 (bigint or safe integer)', v);
        this.align(8);
        this.ensure(8);
        this.dv.setBigInt64(this.pos, x, this.little);
        this.pos += 8;
        return;
      }
      case 0x74: { // t
        let x: bigint;
        if (typeof v === 'bigint') {
          if (BigInt.asUintN(64, v) !== v) throw mismatch('uint64', v);
          x = v;
        } else if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) x = BigInt(v);
        else throw mismatch('uint64 (bigint or non-negative safe integer)', v);
        this.align(8);
        this.ensure(8);
        this.dv.setBigUint64(this.pos, x, this.little);
        this.pos += 8;
        return;
      }
      case 0x64: { // d
        if (typeof v !== 'number') throw mismatch('double', v);
        this.align(8);
        this.ensure(8);
        this.dv.setFloat64(this.pos, v, this.little);
        this.pos += 8;
        return;
      }
      case 0x73: { // s
        if (typeof v !== 'string') throw mismatch('string', v);
        this.string(v, 4);
        return;
      }
      case 0x6f: { // o
        if (typeof v !== 'string') throw mismatch('object path (string)', v);
        const rule = checkObjectPath(v);
        if (rule !== null) throw new EncodeError(`invalid object path ${JSON.stringify(v)}: ${rule}`);
        this.string(v, 4);
        return;
      }
      case 0x67: { // g
        if (typeof v !== 'string') throw mismatch('signature (string)', v);
        validSignature(v, false);
        this.string(v, 1);
        return;
      }
      case 0x76: { // v
        if (!(v instanceof Variant)) throw mismatch('Variant', v);
        if (typeof v.signature !== 'string') throw mismatch('Variant with a string signature', v.signature);
        const inner = validSignature(v.signature, true)!;
        if (++this.depth + this.arrays + this.structs > MAX_TOTAL_DEPTH) throw new EncodeError(`values nested more than ${MAX_TOTAL_DEPTH} deep`);
        this.string(v.signature, 1);
        try {
          this.value(inner, v.value);
        } catch (e) {
          if (e instanceof EncodeError) throw e.within('.value');
          throw e;
        }
        this.depth--;
        return;
      }
      case 0x61: // a
        this.array(t, v);
        return;
      case 0x28: // (
      case 0x7b: { // {
        if (!Array.isArray(v)) throw mismatch(`struct ${t.signature} (array of ${t.fields!.length})`, v);
        const fields = t.fields!;
        if (v.length !== fields.length) throw mismatch(`struct ${t.signature} (array of ${fields.length})`, v);
        if (++this.structs > MAX_STRUCT_DEPTH || this.depth + this.arrays + this.structs > MAX_TOTAL_DEPTH) throw new EncodeError('structs nested too deep');
        this.align(8);
        for (let i = 0; i < fields.length; i++) {
          try {
            this.value(fields[i], v[i]);
          } catch (e) {
            if (e instanceof EncodeError) throw e.within(`[${i}]`);
            throw e;
          }
        }
        this.structs--;
        return;
      }
      default:
        throw new EncodeError(`unknown type '${t.code}'`);
    }
  }

  private array(t: SignatureType, v: unknown): void {
    const el = t.element!;
    if (++this.arrays > MAX_ARRAY_DEPTH || this.depth + this.arrays + this.structs > MAX_TOTAL_DEPTH) throw new EncodeError('arrays nested too deep');
    this.align(4);
    this.ensure(4);
    const lenAt = this.pos;
    this.pos += 4;
    this.align(el.align);
    const start = this.pos;
    const skippedBefore = this.skipped;
    if (el.tag === 0x79 && v instanceof Uint8Array) {
      let n = v.length;
      let from = v;
      if (this.spanMinBytes !== 0 && n >= this.spanMinBytes) {
        // A span of a multiple of 8 bytes keeps every later offset's alignment; the tail is copied.
        const k = n & ~7;
        this.spans.push({ at: this.pos, bytes: v.subarray(0, k) });
        this.skipped += k;
        from = v.subarray(k);
        n -= k;
      }
      this.ensure(n);
      this.buf.set(from, this.pos);
      this.pos += n;
    } else if (el.tag === 0x7b) {
      this.dict(el, v);
    } else if (Array.isArray(v)) {
      let i = 0;
      try {
        for (; i < v.length; i++) this.value(el, v[i]);
      } catch (e) {
        if (e instanceof EncodeError) throw e.within(`[${i}]`);
        throw e;
      }
    } else {
      throw mismatch(el.tag === 0x79 ? 'Uint8Array or array of bytes' : `array ${t.signature}`, v);
    }
    const len = this.pos - start + this.skipped - skippedBefore;
    if (len > MAX_ARRAY_LENGTH) throw new EncodeError(`array of ${len} bytes exceeds the ${MAX_ARRAY_LENGTH}-byte limit`);
    this.dv.setUint32(lenAt, len, this.little);
    this.arrays--;
  }

  private dict(entry: SignatureType, v: unknown): void {
    const [kt, vt] = entry.fields!;
    if (++this.structs > MAX_STRUCT_DEPTH) throw new EncodeError('structs nested too deep');
    if (v instanceof Map) {
      for (const [k, x] of v) this.entry(kt, vt, k, x);
    } else if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)) {
      if (kt.tag !== 0x73 && kt.tag !== 0x6f && kt.tag !== 0x67) throw new EncodeError(`a plain object can only encode a dict with string keys; use a Map for a{${kt.code}…}`);
      for (const k of Object.keys(v)) this.entry(kt, vt, k, (v as Record<string, unknown>)[k]);
    } else {
      throw mismatch(`dict a${entry.signature} (Map or object)`, v);
    }
    this.structs--;
  }

  private entry(kt: SignatureType, vt: SignatureType, k: unknown, x: unknown): void {
    this.align(8);
    try {
      this.value(kt, k);
    } catch (e) {
      if (e instanceof EncodeError) throw e.within(`.key(${describeValue(k)})`);
      throw e;
    }
    try {
      this.value(vt, x);
    } catch (e) {
      if (e instanceof EncodeError) throw e.within(typeof k === 'string' ? `[${JSON.stringify(k)}]` : `[${describeValue(k)}]`);
      throw e;
    }
  }
}

/** The module's one Encoder (encoding is synchronous, so it is never shared by two callers at once). */
export const encoder = new Encoder();
