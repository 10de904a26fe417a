// Type signatures (D-Bus specification, "Type System", "Valid Signatures"):
// parsed once into a tree of SignatureType nodes and cached, so that encoders
// and decoders walk a tree, never a string. Enforced here: at most 255 bytes,
// arrays and structs each nested at most 32 deep, no empty structs, dict
// entries only directly inside an array, with a basic key and one value.
import { ProtocolError } from '../errors.js';
import { MAX_ARRAY_DEPTH, MAX_SIGNATURE_LENGTH, MAX_STRUCT_DEPTH } from './limits.js';

/** One complete type of a signature, with what encoders and decoders need precomputed. */
export interface SignatureType {
  /** The type code: one of `ybnqiuxtdsogvh`, `a` for arrays, `(` for structs, `{` for dict entries. */
  readonly code: string;
  /** The type code's character code (what the codecs switch on). */
  readonly tag: number;
  /** This complete type's own signature text (`a{sv}`). */
  readonly signature: string;
  /** Alignment in bytes on the wire: 1, 2, 4 or 8. */
  readonly align: number;
  /** For `a`: the element type. */
  readonly element: SignatureType | null;
  /** For `(` and `{`: the member types (a dict entry has exactly two). */
  readonly fields: readonly SignatureType[] | null;
  /** True for the basic types (integers, double, boolean, strings, unix fd). */
  readonly basic: boolean;
  /** Whether the tree below contains `h` (unix fd). */
  readonly hasFd: boolean;
}

/** Alignment of each type code ("Marshaling (Wire Format)" table). */
export const ALIGNMENT: Readonly<Record<string, number>> = {
  y: 1, b: 4, n: 2, q: 2, i: 4, u: 4, x: 8, t: 8, d: 8, h: 4, s: 4, o: 4, g: 1, v: 1, a: 4, '(': 8, '{': 8,
};

const BASIC = 'ybnqiuxtdsogh';

/** A signature that breaks a rule: `rule` is the message without the signature. */
class SignatureRuleError extends ProtocolError {
  constructor(sig: string, readonly rule: string) {
    super('BAD_SIGNATURE', `invalid signature ${JSON.stringify(sig)}: ${rule}`);
  }
}

class Parser {
  i = 0;
  arrays = 0;
  structs = 0;
  constructor(readonly sig: string) {}

  fail(rule: string): never {
    throw new SignatureRuleError(this.sig, rule);
  }

  one(inArray: boolean): SignatureType {
    const sig = this.sig;
    const start = this.i;
    const c = sig[this.i++];
    if (c === undefined) this.fail(inArray ? `array at ${start - 1} has no element type` : 'ends in the middle of a type');
    if (BASIC.includes(c) || c === 'v') {
      return node(c, c, null, null);
    }
    if (c === 'a') {
      if (++this.arrays > MAX_ARRAY_DEPTH) this.fail(`arrays nested more than ${MAX_ARRAY_DEPTH} deep`);
      const element = this.one(true);
      this.arrays--;
      return node('a', sig.slice(start, this.i), element, null);
    }
    if (c === '(') {
      if (++this.structs > MAX_STRUCT_DEPTH) this.fail(`structs nested more than ${MAX_STRUCT_DEPTH} deep`);
      const fields: SignatureType[] = [];
      for (;;) {
        const d = sig[this.i];
        if (d === undefined) this.fail(`struct at ${start} is not closed`);
        if (d === ')') break;
        fields.push(this.one(false));
      }
      this.i++;
      if (fields.length === 0) this.fail(`struct at ${start} is empty`);
      this.structs--;
      return node('(', sig.slice(start, this.i), null, fields);
    }
    if (c === '{') {
      if (!inArray || sig[start - 1] !== 'a') this.fail(`dict entry at ${start} is not directly inside an array`);
      if (++this.structs > MAX_STRUCT_DEPTH) this.fail(`structs nested more than ${MAX_STRUCT_DEPTH} deep`);
      const k = sig[this.i];
      if (k === undefined || k === '}') this.fail(`dict entry at ${start} has no key type`);
      if (!BASIC.includes(k)) this.fail(`dict entry at ${start} has a key of type '${k}' (keys must be basic types)`);
      const key = this.one(false);
      if (sig[this.i] === '}' || sig[this.i] === undefined) this.fail(`dict entry at ${start} has no value type`);
      const value = this.one(false);
      if (sig[this.i] !== '}') this.fail(`dict entry at ${start} has more than one value type`);
      this.i++;
      this.structs--;
      return node('{', sig.slice(start, this.i), null, [key, value]);
    }
    if (c === ')' || c === '}') this.fail(`'${c}' at ${start} closes nothing`);
    this.fail(`'${c}' at ${start} is not a type code`);
  }
}

function node(code: string, signature: string, element: SignatureType | null, fields: SignatureType[] | null): SignatureType {
  const hasFd = code === 'h' || (element !== null && element.hasFd) || (fields !== null && fields.some((f) => f.hasFd));
  return { code, tag: code.charCodeAt(0), signature, align: ALIGNMENT[code], element, fields, basic: BASIC.includes(code), hasFd };
}

const CACHE_LIMIT = 4096;
const cache = new Map<string, readonly SignatureType[]>();

/**
 * Parses a signature (zero or more complete types) into type trees. Results
 * are cached and frozen: treat them as read-only. Throws ProtocolError
 * (code BAD_SIGNATURE) naming the rule broken.
 */
export function parseSignature(sig: string): readonly SignatureType[] {
  const hit = cache.get(sig);
  if (hit !== undefined) return hit;
  if (typeof sig !== 'string') throw new ProtocolError('BAD_SIGNATURE', `a signature must be a string, got ${typeof sig}`);
  if (sig.length > MAX_SIGNATURE_LENGTH) {
    throw new ProtocolError('BAD_SIGNATURE', `signature of ${sig.length} bytes exceeds the ${MAX_SIGNATURE_LENGTH}-byte limit`);
  }
  const p = new Parser(sig);
  const types: SignatureType[] = [];
  while (p.i < sig.length) types.push(p.one(false));
  if (cache.size >= CACHE_LIMIT) cache.clear();
  const frozen = Object.freeze(types);
  cache.set(sig, frozen);
  return frozen;
}

/** Parses a signature that must hold exactly one complete type (a variant's, an array element's). */
export function parseSingleType(sig: string): SignatureType {
  const types = parseSignature(sig);
  if (types.length !== 1) {
    throw new ProtocolError('BAD_SIGNATURE', `invalid signature ${JSON.stringify(sig)}: expected one complete type, found ${types.length}`);
  }
  return types[0];
}

/**
 * The rule `sig` breaks, worded as parseSignature's error without the
 * signature itself (`struct at 0 is empty`), or null when valid.
 */
export function signatureRule(sig: string): string | null {
  try {
    parseSignature(sig);
    return null;
  } catch (e) {
    if (e instanceof SignatureRuleError) return e.rule;
    if (e instanceof ProtocolError) return e.message;
    throw e;
  }
}

/** True when `sig` is a valid signature. Never throws. */
export function isValidSignature(sig: string): boolean {
  if (typeof sig !== 'string') return false;
  if (cache.has(sig)) return true;
  try {
    parseSignature(sig);
    return true;
  } catch {
    return false;
  }
}

declare const signatureBrand: unique symbol;
/** A valid signature (zero or more complete types), as a branded string. Made only by `Signature.parse`. */
export type Signature = string & { readonly [signatureBrand]: true };

/** The rule `s` breaks as a signature, or null when valid. */
export function checkSignature(s: string): string | null {
  return typeof s === 'string' ? signatureRule(s) : 'is not a string';
}

/** Signatures as a validated string type: `Signature.parse(s)` validates and brands. */
export const Signature = {
  /** Returns `s` as a Signature; throws ProtocolError (BAD_SIGNATURE) naming the broken rule. */
  parse(s: string): Signature {
    parseSignature(s);
    return s as Signature;
  },
  isValid(s: string): s is Signature {
    return isValidSignature(s);
  },
};
