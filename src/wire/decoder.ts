// Unmarshaling of values (D-Bus specification, "Marshaling (Wire Format)"):
// a Decoder reads values along a parsed SignatureType tree from bytes in
// either byte order. Strict: padding must be zero, booleans 0 or 1, strings
// valid UTF-8 without NUL, arrays within 64 MiB and their bounds, nesting
// within the limits, fd indexes below UNIX_FDS. Any fault is a ProtocolError.
import { isUtf8 } from 'node:buffer';
import { ProtocolError } from '../errors.js';
import { checkObjectPath } from '../names/object-path.js';
import { MAX_ARRAY_DEPTH, MAX_ARRAY_LENGTH, MAX_STRUCT_DEPTH, MAX_TOTAL_DEPTH } from './limits.js';
import { parseSignature, type SignatureType } from './signature.js';
import { Variant } from './variant.js';

/** Options for decoding values. */
export interface DecodeOptions {
  /** `ay` values become views of the input bytes instead of copies (the input must then stay unchanged). */
  zeroCopy?: boolean;
  /** Dicts with string-like keys (`s`, `o`, `g`) become plain objects (null prototype) instead of Maps. */
  dictAsObject?: boolean;
}

function fail(code: string, message: string): never {
  throw new ProtocolError(code, message);
}

/**
 * Reads D-Bus values from one message's bytes. Positions are offsets from the
 * message start, so alignment is relative to it. One module-level instance
 * is reused (decoding is synchronous).
 */
export class Decoder {
  buf: Buffer = Buffer.alloc(0);
  dv: DataView = new DataView(this.buf.buffer);
  pos = 0;
  end = 0;
  little = true;
  zeroCopy = false;
  dictAsObject = false;
  /** Unix fds the message declares (UNIX_FDS); `h` values must be below it. */
  unixFds = 0;
  private depth = 0;
  private arrays = 0;
  private structs = 0;

  /** Starts reading `bytes[0..end)` in the given byte order. */
  reset(bytes: Uint8Array, end: number, little: boolean): void {
    this.buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
    this.end = end;
    this.little = little;
    this.unixFds = 0;
    this.depth = this.arrays = this.structs = 0;
  }

  /** Drops the reference to the input so that it can be collected. */
  release(): void {
    this.buf = EMPTY;
    this.dv = EMPTY_VIEW;
  }

  need(n: number): void {
    if (this.pos + n > this.end) fail('TRUNCATED', `value at offset ${this.pos} needs ${n} bytes, only ${this.end - this.pos} left`);
  }

  /** Skips padding up to a multiple of `a`; padding bytes must be zero. */
  align(a: number): void {
    let p = this.pos;
    const q = (p + a - 1) & -a;
    if (q === p) return;
    if (q > this.end) fail('TRUNCATED', `padding at offset ${p} runs past the end`);
    const b = this.buf;
    while (p < q) if (b[p++] !== 0) fail('BAD_PADDING', `padding byte at offset ${p - 1} is not zero`);
    this.pos = q;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  u32(): number {
    this.align(4);
    this.need(4);
    const v = this.dv.getUint32(this.pos, this.little);
    this.pos += 4;
    return v;
  }

  /** Reads a string's bytes (length already read) and its NUL; checks UTF-8 and inner NULs. */
  text(len: number): string {
    const start = this.pos;
    if (len > this.end - start - 1) fail('TRUNCATED', `string of ${len} bytes at offset ${start} runs past the end`);
    const b = this.buf;
    const stop = start + len;
    if (b[stop] !== 0) fail('BAD_STRING', `string at offset ${start} is not followed by NUL`);
    this.pos = stop + 1;
    if (len <= 64) {
      let ascii = true;
      for (let i = start; i < stop; i++) {
        const c = b[i];
        if (c === 0) fail('BAD_STRING', `string at offset ${start} contains NUL`);
        if (c >= 0x80) ascii = false;
      }
      if (ascii) return b.latin1Slice(start, stop);
    } else if (b.subarray(start, stop).indexOf(0) !== -1) {
      fail('BAD_STRING', `string at offset ${start} contains NUL`);
    }
    if (!isUtf8(b.subarray(start, stop))) fail('BAD_STRING', `string at offset ${start} is not valid UTF-8`);
    return b.utf8Slice(start, stop);
  }

  string(): string {
    return this.text(this.u32());
  }

  signature(): string {
    const len = this.u8();
    return this.text(len);
  }

  /** Reads one value of type `t`. */
  value(t: SignatureType): unknown {
    switch (t.tag) {
      case 0x79: // y
        this.need(1);
        return this.buf[this.pos++];
      case 0x62: { // b
        const v = this.u32();
        if (v > 1) fail('BAD_BOOLEAN', `boolean at offset ${this.pos - 4} is ${v} (must be 0 or 1)`);
        return v === 1;
      }
      case 0x6e: { // n
        this.align(2);
        this.need(2);
        const v = this.dv.getInt16(this.pos, this.little);
        this.pos += 2;
        return v;
      }
      case 0x71: { // q
        this.align(2);
        this.need(2);
        const v = this.dv.getUint16(this.pos, this.little);
        this.pos += 2;
        return v;
      }
      case 0x69: { // i
        this.align(4);
        this.need(4);
        const v = this.dv.getInt32(this.pos, this.little);
        this.pos += 4;
        return v;
      }
      case 0x75: // u
        return this.u32();
      case 0x68: { // h
        const v = this.u32();
        if (v >= this.unixFds) fail('BAD_FD', `unix fd index ${v} at offset ${this.pos - 4} is not below UNIX_FDS (${this.unixFds})`);
        return v;
      }
      case 0x78: { // x
        this.align(8);
        this.need(8);
        const v = this.dv.getBigInt64(this.pos, this.little);
        this.pos += 8;
        return v;
      }
      case 0x74: { // t
        this.align(8);
        this.need(8);
        const v = this.dv.getBigUint64(this.pos, this.little);
        this.pos += 8;
        return v;
      }
      case 0x64: { // d
        this.align(8);
        this.need(8);
        const v = this.dv.getFloat64(this.pos, this.little);
        this.pos += 8;
        return v;
      }
      case 0x73: // s
        return this.string();
      case 0x6f: { // o
        const at = this.pos;
        const v = this.string();
        const rule = checkObjectPath(v);
        if (rule !== null) fail('BAD_PATH', `object path at offset ${at} ${JSON.stringify(v)} ${rule}`);
        return v;
      }
      case 0x67: { // g
        const v = this.signature();
        parseSignature(v);
        return v;
      }
      case 0x76: { // v
        const at = this.pos;
        const sig = this.signature();
        const types = parseSignature(sig);
        if (types.length !== 1) fail('BAD_SIGNATURE', `variant at offset ${at} has signature ${JSON.stringify(sig)}, not one complete type`);
        if (++this.depth + this.arrays + this.structs > MAX_TOTAL_DEPTH) fail('TOO_DEEP', `variant at offset ${at} nests values more than ${MAX_TOTAL_DEPTH} deep`);
        const inner = types[0];
        // Nesting limits hold across variants: count the inner type's own depth too.
        const value = this.value(inner);
        this.depth--;
        return new Variant(sig, value);
      }
      case 0x61: // a
        return this.array(t);
      case 0x28: { // (
        if (++this.structs > MAX_STRUCT_DEPTH || this.depth + this.arrays + this.structs > MAX_TOTAL_DEPTH) {
          fail('TOO_DEEP', `struct at offset ${this.pos} nests structs more than ${MAX_STRUCT_DEPTH} deep`);
        }
        this.align(8);
        const fields = t.fields!;
        const out = new Array(fields.length);
        for (let i = 0; i < fields.length; i++) out[i] = this.value(fields[i]);
        this.structs--;
        return out;
      }
      default:
        return fail('BAD_SIGNATURE', `unexpected type '${t.code}'`);
    }
  }

  private array(t: SignatureType): unknown {
    const at = this.pos;
    const len = this.u32();
    if (len > MAX_ARRAY_LENGTH) fail('ARRAY_TOO_LONG', `array at offset ${at} of ${len} bytes exceeds the ${MAX_ARRAY_LENGTH}-byte limit`);
    if (++this.arrays > MAX_ARRAY_DEPTH || this.depth + this.arrays + this.structs > MAX_TOTAL_DEPTH) {
      fail('TOO_DEEP', `array at offset ${at} nests arrays more than ${MAX_ARRAY_DEPTH} deep`);
    }
    const el = t.element!;
    this.align(el.align);
    const start = this.pos;
    const stop = start + len;
    if (stop > this.end) fail('TRUNCATED', `array at offset ${at} of ${len} bytes runs past the end`);
    let out: unknown;
    switch (el.tag) {
      case 0x79: { // ay
        const b = this.buf;
        if (this.zeroCopy) out = b.subarray(start, stop);
        else {
          const copy = Buffer.allocUnsafe(len);
          b.copy(copy, 0, start, stop);
          out = copy;
        }
        this.pos = stop;
        break;
      }
      case 0x7b: { // a{..}
        out = this.dict(el, stop, at);
        break;
      }
      default: {
        const list: unknown[] = [];
        while (this.pos < stop) list.push(this.value(el));
        out = list;
      }
    }
    if (this.pos !== stop) fail('BAD_ARRAY', `array at offset ${at}: its last element ends at ${this.pos}, past its length ${len}`);
    this.arrays--;
    return out;
  }

  private dict(el: SignatureType, stop: number, at: number): unknown {
    if (++this.structs > MAX_STRUCT_DEPTH || this.depth + this.arrays + this.structs > MAX_TOTAL_DEPTH) {
      fail('TOO_DEEP', `dict at offset ${at} nests structs more than ${MAX_STRUCT_DEPTH} deep`);
    }
    const kt = el.fields![0];
    const vt = el.fields![1];
    let out: unknown;
    if (this.dictAsObject && (kt.tag === 0x73 || kt.tag === 0x6f || kt.tag === 0x67)) {
      const obj: Record<string, unknown> = Object.create(null);
      while (this.pos < stop) {
        this.align(8);
        const k = this.value(kt) as string;
        obj[k] = this.value(vt);
      }
      out = obj;
    } else {
      const map = new Map<unknown, unknown>();
      while (this.pos < stop) {
        this.align(8);
        const k = this.value(kt);
        map.set(k, this.value(vt));
      }
      out = map;
    }
    this.structs--;
    return out;
  }
}

const EMPTY = Buffer.alloc(0);
const EMPTY_VIEW = new DataView(EMPTY.buffer, EMPTY.byteOffset, 0);

declare module 'node:buffer' {
  interface Buffer {
    latin1Slice(start: number, end: number): string;
    utf8Slice(start: number, end: number): string;
  }
}

/** The module's one Decoder (decoding is synchronous). */
export const decoder = new Decoder();

/**
 * Decodes `bytes` as values of `signature` (a body, aligned as if it started
 * at a multiple of 8); all bytes must be consumed. Throws ProtocolError.
 * `unixFds` bounds `h` values (default 0: no fds allowed).
 */
export function decodeValues(signature: string, bytes: Uint8Array, options?: DecodeOptions & { endian?: 'little' | 'big'; unixFds?: number }): unknown[] {
  const types = parseSignature(signature);
  const d = decoder;
  d.reset(bytes, bytes.length, options?.endian !== 'big');
  d.zeroCopy = options?.zeroCopy === true;
  d.dictAsObject = options?.dictAsObject === true;
  d.unixFds = options?.unixFds ?? 0;
  try {
    const out = new Array(types.length);
    for (let i = 0; i < types.length; i++) out[i] = d.value(types[i]);
    if (d.pos !== bytes.length) fail('TRAILING_BYTES', `${bytes.length - d.pos} bytes left after the values of ${JSON.stringify(signature)}`);
    return out;
  } finally {
    d.release();
  }
}
