// Unmarshaling of values (D-Bus specification, "Marshaling (Wire Format)"):
// a Decoder reads values along a parsed SignatureType tree from bytes in
// either byte order. Strict: padding must be zero, booleans 0 or 1, strings
// valid UTF-8 without NUL, arrays within 64 MiB and their bounds, nesting
// within the limits, fd indexes below UNIX_FDS. Any fault is a ProtocolError.
// Kept whole: the per-type reads (value, skip, array, dict, variant) and the
// string cache's lookup (text, miss, intern) are methods of one class over one
// cursor (buf, dv, base, pos), so that V8 inlines them into each other; moving
// a shared piece out (the array set-up, tried in session 3) put a call V8 did
// not inline on the check path, and was reverted. The cache's storage at the
// end of the file is read only by those methods.
// Buffer from its module: the global `Buffer` is an accessor, called at each use (once per message in reset).
import { Buffer, isUtf8 } from 'node:buffer';
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
  /**
   * A DataView of the input's whole ArrayBuffer: read at `base + pos`. Kept
   * while messages keep arriving in the same small ArrayBuffer (Node's pooled
   * slabs), so that most messages cost no new DataView.
   */
  dv: DataView = EMPTY_VIEW;
  private ab: ArrayBufferLike | null = null;
  private keptView: WeakRef<DataView> | undefined = undefined;
  /** Offset of the message in its ArrayBuffer (for `dv`). */
  base = 0;
  pos = 0;
  end = 0;
  /** The cache slot of the last string read, -1 when it was not cached. */
  slot = -1;
  /** The text of the last signature of two or more characters read by signatureTypes. */
  sigText = '';
  /** The parsed SIGNATURE header field of the message being read. */
  bodyTypes: readonly SignatureType[] | undefined = undefined;
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
    const ab = bytes.buffer;
    this.buf = bytes instanceof Buffer ? bytes : Buffer.from(ab, bytes.byteOffset, bytes.byteLength);
    this.base = bytes.byteOffset;
    if (ab !== this.ab) {
      this.ab = ab;
      // A large input's view is not held past the job that released it, only weakly: messages that keep
      // coming in one large buffer (a channel's ring or payload arena) reuse it. Not a buffer that holds
      // just this message (a large one landed in the receive pool): V8's young collections keep a
      // WeakRef's target alive, so its slab would stay lent until a full collection.
      const kept = this.keptView?.deref();
      if (kept !== undefined && kept.buffer === ab) this.dv = kept;
      else {
        this.dv = new DataView(ab);
        if (ab.byteLength > KEEP_VIEW_BYTES && ab.byteLength !== bytes.byteLength) this.keptView = new WeakRef(this.dv);
      }
    }
    this.pos = 0;
    this.end = end;
    this.little = little;
    this.unixFds = 0;
    this.depth = this.arrays = this.structs = 0;
  }

  /**
   * Drops the reference to the input so that it can be collected. A large
   * input's view is dropped when the current job's microtasks run, not at
   * once: the messages of one job (a drained ring, a large message decoded
   * again) then skip the weak lookup in reset. The view was kept that long
   * anyway: a WeakRef's target lives until the job ends.
   */
  release(): void {
    this.buf = EMPTY;
    if (!this.dropQueued && this.dv.byteLength > KEEP_VIEW_BYTES) {
      this.dropQueued = true;
      queueMicrotask(this.dropLarge);
    }
  }

  private dropQueued = false;
  /** Drops a large input's view and buffer (queued by release). */
  private readonly dropLarge = (): void => {
    this.dropQueued = false;
    if (this.dv.byteLength > KEEP_VIEW_BYTES) {
      this.dv = EMPTY_VIEW;
      this.ab = null;
    }
  };

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

  /**
   * align(8) where the padding is mostly 4 to 7 bytes (between header
   * fields): such padding is checked as two words, not byte by byte. Any
   * other case, and any fault, goes to align for its error.
   */
  align8(): void {
    const p = this.pos;
    const q = (p + 7) & -8;
    if (q - p < 4 || q > this.end) return this.align(8);
    // The two words cover [p, p + 4) and [q - 4, q): all of the padding.
    const o = this.base + p;
    if ((this.dv.getInt32(o, true) | this.dv.getInt32(o + (q - p) - 4, true)) !== 0) return this.align(8);
    this.pos = q;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  u32(): number {
    this.align(4);
    const p = this.pos;
    if (p + 4 > this.end) this.need(4);
    const b = this.buf;
    this.pos = p + 4;
    return this.little
      ? (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0
      : ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
  }

  /**
   * Reads a string's bytes (length already read) and its NUL; checks UTF-8
   * and inner NULs. Short ASCII strings come from a small cache (names and
   * dict keys repeat), so that most reads allocate nothing; `slot` is then
   * the cache slot, else -1.
   */
  text(len: number): string {
    const start = this.pos;
    const stop = start + len;
    const b = this.buf;
    if (len > this.end - start - 1 || b[stop] !== 0) return this.badEnd(len);
    this.pos = stop + 1;
    if (len >= 4 && len <= CACHED_LENGTH) {
      // A hit is confirmed by comparing every byte with the cached copy, which
      // is known to be ASCII without NUL, so a hit needs no other check.
      const dv = this.dv;
      const o = this.base + start;
      if (len <= 8) {
        // Two words hold it all (overlapping below 8 bytes): hash and compare them alone.
        const w0 = dv.getInt32(o, true);
        const w1 = dv.getInt32(o + len - 4, true);
        const h0 = Math.imul(len ^ w0, 0x9e3779b1);
        const h = len === 4 ? h0 : Math.imul(h0 ^ w1, len === 8 ? 0x9e3779b1 : 0x85ebca6b);
        const slot = Math.imul(h ^ (h >>> 16), 0x2c1b3c6d) >>> CACHE_SHIFT;
        if (cacheLength[slot] === len && cacheFirst[slot] === w0 && cacheLast[slot] === w1) {
          this.slot = slot;
          return cacheInterned[slot] === 1 ? cacheText[slot] : this.intern(slot);
        }
        return this.miss(start, stop, slot);
      }
      // Every word (the last one overlapping when the length is not a multiple
      // of 4); products mix bits upwards, so the slot is taken from the top bits.
      let h = len;
      let k = 0;
      for (; k + 4 <= len; k += 4) h = Math.imul(h ^ dv.getInt32(o + k, true), 0x9e3779b1);
      if (k !== len) h = Math.imul(h ^ dv.getInt32(o + len - 4, true), 0x85ebca6b);
      const slot = Math.imul(h ^ (h >>> 16), 0x2c1b3c6d) >>> CACHE_SHIFT;
      if (cacheLength[slot] === len) {
        const base = slot * CACHED_LENGTH;
        k = 0;
        while (k + 4 <= len && POOL_VIEW.getInt32(base + k, true) === dv.getInt32(o + k, true)) k += 4;
        if (k + 4 > len && POOL_VIEW.getInt32(base + len - 4, true) === dv.getInt32(o + len - 4, true)) {
          this.slot = slot;
          return cacheInterned[slot] === 1 ? cacheText[slot] : this.intern(slot);
        }
      }
      return this.miss(start, stop, slot);
    }
    if (len < 4) {
      let w = len;
      for (let i = start; i < stop; i++) w = (w << 8) | b[i];
      const slot = Math.imul(w, 0x9e3779b1) >>> CACHE_SHIFT;
      if (cacheLength[slot] === len) {
        const base = slot * CACHED_LENGTH;
        let k = 0;
        while (k < len && POOL[base + k] === b[start + k]) k++;
        if (k === len) {
          this.slot = slot;
          return cacheInterned[slot] === 1 ? cacheText[slot] : this.intern(slot);
        }
      }
      return this.miss(start, stop, slot);
    }
    this.slot = -1;
    return this.uncached(start, stop);
  }

  /** A short string not in the cache: checked, and cached when it is ASCII. */
  private miss(start: number, stop: number, slot: number): string {
    const b = this.buf;
    let bad = 0;
    for (let i = start; i < stop; i++) {
      const c = b[i];
      bad |= c | (c === 0 ? 0x80 : 0);
    }
    if ((bad & 0x80) !== 0) {
      this.slot = -1;
      return this.uncached(start, stop);
    }
    const len = stop - start;
    const base = slot * CACHED_LENGTH;
    const str = b.latin1Slice(start, stop);
    for (let k = 0; k < len; k++) POOL[base + k] = b[start + k];
    cacheLength[slot] = len;
    cacheText[slot] = str;
    if (len >= 4) {
      cacheFirst[slot] = this.dv.getInt32(this.base + start, true);
      cacheLast[slot] = this.dv.getInt32(this.base + stop - 4, true);
    }
    cacheInterned[slot] = 0;
    cacheValid[slot] = 0;
    cacheTypes[slot] = undefined;
    this.slot = slot;
    return str;
  }

  /**
   * A cached string seen a second time is replaced by the engine's shared
   * copy (as property keys are), so that Map lookups and property stores with
   * it need no hashing; a string seen once is not worth that cost.
   */
  private intern(slot: number): string {
    cacheInterned[slot] = 1;
    return (cacheText[slot] = internalize(cacheText[slot]));
  }

  /** A string decoded without the cache: checked for NUL and UTF-8. */
  private uncached(start: number, stop: number): string {
    const b = this.buf;
    if (b.subarray(start, stop).indexOf(0) !== -1) fail('BAD_STRING', `string at offset ${start} contains NUL`);
    if (!isUtf8(b.subarray(start, stop))) fail('BAD_STRING', `string at offset ${start} is not valid UTF-8`);
    return b.utf8Slice(start, stop);
  }

  private badEnd(len: number): never {
    const start = this.pos;
    if (len > this.end - start - 1) fail('TRUNCATED', `string of ${len} bytes at offset ${start} runs past the end`);
    fail('BAD_STRING', `string at offset ${start} is not followed by NUL`);
  }

  /**
   * Checks the string just read with `check` (a names/ rule), remembering a
   * pass in the cache under `kind` (a bit) so that a repeated name is checked
   * once. Returns the broken rule or null.
   */
  checkLast(s: string, kind: number, check: (s: string) => string | null): string | null {
    const slot = this.slot;
    if (slot >= 0 && (cacheValid[slot] & kind) !== 0) return null;
    const rule = check(s);
    if (rule === null && slot >= 0) cacheValid[slot] |= kind;
    return rule;
  }

  /**
   * Reads a signature (`g`) and parses it, through the cache. Its text is in
   * `sigText` afterwards, except for a one-character type or an array of one
   * (`s`, `v`, `ay`: the common cases in variants and bodies), which skips the
   * cache: its text is then the type's own `signature`.
   */
  signatureTypes(): readonly SignatureType[] {
    const p = this.pos;
    const b = this.buf;
    if (p + 2 < this.end && b[p] === 1 && b[p + 2] === 0) {
      const single = SINGLE[b[p + 1]];
      if (single !== undefined) {
        this.pos = p + 3;
        return single;
      }
    } else if (p + 3 < this.end && b[p] === 2 && b[p + 1] === 0x61 && b[p + 3] === 0) {
      const array = ARRAY_OF[b[p + 2]];
      if (array !== undefined) {
        this.pos = p + 4;
        return array;
      }
    }
    const len = this.u8();
    const sig = this.text(len);
    this.sigText = sig;
    const slot = this.slot;
    if (slot >= 0) {
      const hit = cacheTypes[slot];
      if (hit !== undefined) return hit;
      return (cacheTypes[slot] = parseSignature(sig));
    }
    return parseSignature(sig);
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
        const v = this.dv.getInt16(this.base + this.pos, this.little);
        this.pos += 2;
        return v;
      }
      case 0x71: { // q
        this.align(2);
        this.need(2);
        const v = this.dv.getUint16(this.base + this.pos, this.little);
        this.pos += 2;
        return v;
      }
      case 0x69: { // i
        this.align(4);
        this.need(4);
        const v = this.dv.getInt32(this.base + this.pos, this.little);
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
        const v = this.dv.getBigInt64(this.base + this.pos, this.little);
        this.pos += 8;
        return v;
      }
      case 0x74: { // t
        this.align(8);
        this.need(8);
        const v = this.dv.getBigUint64(this.base + this.pos, this.little);
        this.pos += 8;
        return v;
      }
      case 0x64: { // d
        this.align(8);
        this.need(8);
        const v = this.dv.getFloat64(this.base + this.pos, this.little);
        this.pos += 8;
        return v;
      }
      case 0x73: // s
        return this.string();
      case 0x6f: { // o
        const at = this.pos;
        const v = this.string();
        const rule = this.checkLast(v, KIND_PATH, checkObjectPath);
        if (rule !== null) fail('BAD_PATH', `object path at offset ${at} ${JSON.stringify(v)} ${rule}`);
        return v;
      }
      case 0x67: { // g
        const types = this.signatureTypes();
        return types.length === 1 ? types[0].signature : this.sigText;
      }
      case 0x76: // v
        return this.variant();
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

  /** Reads a variant: its signature (one complete type), then its value. */
  variant(): Variant {
    const at = this.pos;
    const types = this.signatureTypes();
    if (types.length !== 1) fail('BAD_SIGNATURE', `variant at offset ${at} has signature ${JSON.stringify(types.map((x) => x.signature).join(''))}, not one complete type`);
    // Nesting limits hold across variants: arrays and structs inside count on.
    if (++this.depth + this.arrays + this.structs > MAX_TOTAL_DEPTH) fail('TOO_DEEP', `variant at offset ${at} nests values more than ${MAX_TOTAL_DEPTH} deep`);
    const inner = types[0];
    const value = this.value(inner);
    this.depth--;
    return new Variant(inner.signature, value);
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
      // Built on an empty prototype, then given a null one: V8 keeps such an object's
      // properties fast, while one from Object.create(null) starts as a hash table
      // (about 10% of an a{sv} decode, measured by CPU time per message).
      const obj = new NullPrototyped() as Record<string, unknown>;
      if (kt.tag === 0x73 && vt.tag === 0x76) {
        // a{sv}, as in the Map branch: no dispatch per entry.
        while (this.pos < stop) {
          if ((this.pos & 7) !== 0) this.align(8);
          const k = this.text(this.u32());
          obj[k] = this.variant();
        }
      } else {
        while (this.pos < stop) {
          this.align(8);
          const k = this.value(kt) as string;
          obj[k] = this.value(vt);
        }
      }
      Object.setPrototypeOf(obj, null);
      out = obj;
    } else {
      const map = new Map<unknown, unknown>();
      if (kt.tag === 0x73 && vt.tag === 0x76) {
        // a{sv}, the commonest dict (properties, options): no dispatch per entry.
        while (this.pos < stop) {
          if ((this.pos & 7) !== 0) this.align(8);
          const k = this.text(this.u32());
          map.set(k, this.variant());
        }
      } else {
        while (this.pos < stop) {
          this.align(8);
          const k = this.value(kt);
          map.set(k, this.value(vt));
        }
      }
      out = map;
    }
    this.structs--;
    return out;
  }

  /**
   * Checks one value of type `t` as strictly as `value` does, without
   * building it: no strings, arrays, maps or variants are made (a broker
   * validates bodies it only forwards).
   */
  skip(t: SignatureType): void {
    switch (t.tag) {
      case 0x79: // y
        this.need(1);
        this.pos++;
        return;
      case 0x62: // b
        if (this.u32() > 1) fail('BAD_BOOLEAN', `boolean at offset ${this.pos - 4} is not 0 or 1`);
        return;
      case 0x6e: case 0x71: // n q
        this.align(2);
        this.need(2);
        this.pos += 2;
        return;
      case 0x69: case 0x75: // i u
        this.align(4);
        this.need(4);
        this.pos += 4;
        return;
      case 0x68: // h
        if (this.u32() >= this.unixFds) fail('BAD_FD', `unix fd index at offset ${this.pos - 4} is not below UNIX_FDS (${this.unixFds})`);
        return;
      case 0x78: case 0x74: case 0x64: // x t d
        this.align(8);
        this.need(8);
        this.pos += 8;
        return;
      case 0x73: // s
        this.skipText(this.u32());
        return;
      case 0x6f: { // o
        const len = this.u32();
        const start = this.pos;
        this.skipText(len);
        if (!isPathBytes(this.buf, start, start + len)) fail('BAD_PATH', `object path at offset ${start} is not valid`);
        return;
      }
      case 0x67: // g
        this.signatureTypes();
        return;
      case 0x76: { // v
        const at = this.pos;
        const types = this.signatureTypes();
        if (types.length !== 1) fail('BAD_SIGNATURE', `variant at offset ${at} has signature ${JSON.stringify(types.map((x) => x.signature).join(''))}, not one complete type`);
        if (++this.depth + this.arrays + this.structs > MAX_TOTAL_DEPTH) fail('TOO_DEEP', `variant at offset ${at} nests values more than ${MAX_TOTAL_DEPTH} deep`);
        this.skip(types[0]);
        this.depth--;
        return;
      }
      case 0x61: { // a
        const at = this.pos;
        const len = this.u32();
        if (len > MAX_ARRAY_LENGTH) fail('ARRAY_TOO_LONG', `array at offset ${at} of ${len} bytes exceeds the ${MAX_ARRAY_LENGTH}-byte limit`);
        if (++this.arrays > MAX_ARRAY_DEPTH || this.depth + this.arrays + this.structs > MAX_TOTAL_DEPTH) {
          fail('TOO_DEEP', `array at offset ${at} nests arrays more than ${MAX_ARRAY_DEPTH} deep`);
        }
        const el = t.element!;
        this.align(el.align);
        const stop = this.pos + len;
        if (stop > this.end) fail('TRUNCATED', `array at offset ${at} of ${len} bytes runs past the end`);
        const size = FIXED_SIZE[el.tag];
        if (size !== undefined) {
          // Fixed-size elements with no value rule: only the length needs checking.
          if (len % size !== 0) fail('BAD_ARRAY', `array at offset ${at}: ${len} bytes is not a whole number of ${size}-byte elements`);
          this.pos = stop;
        } else if (el.tag === 0x7b) {
          if (++this.structs > MAX_STRUCT_DEPTH || this.depth + this.arrays + this.structs > MAX_TOTAL_DEPTH) {
            fail('TOO_DEEP', `dict at offset ${at} nests structs more than ${MAX_STRUCT_DEPTH} deep`);
          }
          const [kt, vt] = el.fields!;
          while (this.pos < stop) {
            this.align(8);
            this.skip(kt);
            this.skip(vt);
          }
          this.structs--;
        } else {
          while (this.pos < stop) this.skip(el);
        }
        if (this.pos !== stop) fail('BAD_ARRAY', `array at offset ${at}: its last element ends at ${this.pos}, past its length ${len}`);
        this.arrays--;
        return;
      }
      case 0x28: { // (
        if (++this.structs > MAX_STRUCT_DEPTH || this.depth + this.arrays + this.structs > MAX_TOTAL_DEPTH) {
          fail('TOO_DEEP', `struct at offset ${this.pos} nests structs more than ${MAX_STRUCT_DEPTH} deep`);
        }
        this.align(8);
        for (const f of t.fields!) this.skip(f);
        this.structs--;
        return;
      }
      default:
        fail('BAD_SIGNATURE', `unexpected type '${t.code}'`);
    }
  }

  /** Checks a string's bytes (length already read) and its NUL, making no string unless it is short and new. */
  private skipText(len: number): void {
    if (len <= CACHED_LENGTH) {
      this.text(len);
      return;
    }
    const start = this.pos;
    const stop = start + len;
    if (len > this.end - start - 1 || this.buf[stop] !== 0) this.badEnd(len);
    const bytes = this.buf.subarray(start, stop);
    if (bytes.indexOf(0) !== -1) fail('BAD_STRING', `string at offset ${start} contains NUL`);
    if (!isUtf8(bytes)) fail('BAD_STRING', `string at offset ${start} is not valid UTF-8`);
    this.pos = stop + 1;
  }
}

const EMPTY = Buffer.alloc(0);
const EMPTY_VIEW = new DataView(new ArrayBuffer(0));
/** A DataView over an ArrayBuffer up to this size is kept between messages. */
const KEEP_VIEW_BYTES = 64 * 1024;

/** The engine's one shared copy of `s`, as property keys are. */
function internalize(s: string): string {
  return Object.keys({ [s]: 0 })[0] ?? s;
}

/*
 * The string cache: short ASCII strings (names, dict keys, signatures) by a
 * hash of all their bytes. A hit is confirmed against the bytes kept in POOL, so
 * a colliding string is never mistaken for another; a miss replaces the slot.
 *
 *   slot:        0        1              ...  4095
 *   cacheLength  [15]     [-1]                [4]
 *   cacheText    "org.e…" ""                  "Name"
 *   cacheValid   0b0010   0                   0          (name rules passed)
 *   cacheTypes   -        -                   -          (parsed, if a signature)
 *   POOL         64 bytes per slot: the string's bytes
 */
/** Strings up to this many bytes are cached. */
const CACHED_LENGTH = 64;
const CACHE_BITS = 12;
const CACHE_SIZE = 1 << CACHE_BITS;
const CACHE_SHIFT = 32 - CACHE_BITS;
const cacheText: string[] = new Array<string>(CACHE_SIZE).fill('');
/** Per slot: the cached string's length, -1 when empty; its bytes are in POOL. */
const cacheLength = new Int16Array(CACHE_SIZE).fill(-1);
const POOL = new Uint8Array(CACHE_SIZE * CACHED_LENGTH);
const POOL_VIEW = new DataView(POOL.buffer);
/** Per slot: the first and last four bytes of the cached string (4 to 8 bytes long: all of it). */
const cacheFirst = new Int32Array(CACHE_SIZE);
const cacheLast = new Int32Array(CACHE_SIZE);
/** Per slot: 1 when the cached string is the engine's shared (internalized) copy. */
const cacheInterned = new Uint8Array(CACHE_SIZE);
/** Per slot: bits of the name rules the cached string is known to pass. */
const cacheValid = new Uint8Array(CACHE_SIZE);
/** Per slot: the parsed types when the cached string was read as a signature. */
const cacheTypes: Array<readonly SignatureType[] | undefined> = new Array(CACHE_SIZE).fill(undefined);
/** Rule bits for Decoder.checkLast. */
export const KIND_PATH = 1, KIND_INTERFACE = 2, KIND_MEMBER = 4, KIND_BUS_NAME = 8;
/** One-character signatures, by character code. */
const SINGLE: Array<readonly SignatureType[] | undefined> = [];
/** Arrays of one-character types (`ay`, `as`, `av`), by the element's character code. */
const ARRAY_OF: Array<readonly SignatureType[] | undefined> = [];
for (const c of 'ybnqiuxtdsogvh') {
  SINGLE[c.charCodeAt(0)] = parseSignature(c);
  ARRAY_OF[c.charCodeAt(0)] = parseSignature(`a${c}`);
}

declare module 'node:buffer' {
  interface Buffer {
    latin1Slice(start: number, end: number): string;
    utf8Slice(start: number, end: number): string;
  }
}

/** Element sizes of the fixed-size types whose every bit pattern is valid (`b` and `h` are not). */
const FIXED_SIZE: Array<number | undefined> = [];
for (const [c, n] of [['y', 1], ['n', 2], ['q', 2], ['i', 4], ['u', 4], ['x', 8], ['t', 8], ['d', 8]] as const) FIXED_SIZE[c.charCodeAt(0)] = n;

/** Whether `b[start..stop)` is a valid object path ("Valid Object Paths"), checked on the bytes. */
function isPathBytes(b: Uint8Array, start: number, stop: number): boolean {
  if (stop === start || b[start] !== 0x2f) return false;
  if (stop - start === 1) return true;
  let elementStart = start + 1;
  for (let i = start + 1; i < stop; i++) {
    const c = b[i];
    if (c === 0x2f) {
      if (i === elementStart) return false;
      elementStart = i + 1;
    } else if (!((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f)) {
      return false;
    }
  }
  return elementStart !== stop;
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

/** The constructor of dictAsObject's objects: its prototype has no properties, not even `__proto__`. */
class NullPrototyped {}
Object.setPrototypeOf(NullPrototyped.prototype, null);
