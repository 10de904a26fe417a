// busctl's argument syntax, both ways: `SIGNATURE ARGS...` on the command line
// into values (an array gives its length then its items, a dict entry its key
// then its value, a variant its signature then its value), and values back
// into the same text for readable output.
import { parseSignature, Variant, type SignatureType } from '../wire/index.js';

/** A command-line argument list that does not fit its signature. */
export class ArgumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArgumentError';
  }
}

const INT_RANGES: Record<string, [bigint, bigint]> = {
  y: [0n, 255n], n: [-32768n, 32767n], q: [0n, 65535n], i: [-2147483648n, 2147483647n], u: [0n, 4294967295n], h: [0n, 4294967295n],
  x: [-(2n ** 63n), 2n ** 63n - 1n], t: [0n, 2n ** 64n - 1n],
};

/** Parses `args` against `signature`; throws ArgumentError saying which argument is wrong. */
export function parseBusArgs(signature: string, args: readonly string[]): unknown[] {
  let types: readonly SignatureType[];
  try {
    types = parseSignature(signature);
  } catch (e) {
    throw new ArgumentError((e as Error).message);
  }
  let i = 0;
  const take = (what: string): string => {
    if (i >= args.length) throw new ArgumentError(`signature '${signature}' needs more arguments: missing ${what} (argument ${i + 1})`);
    return args[i++];
  };
  const one = (t: SignatureType): unknown => {
    switch (t.code) {
      case 'b': {
        const s = take('a boolean').toLowerCase();
        if (['true', 'yes', 'on', '1'].includes(s)) return true;
        if (['false', 'no', 'off', '0'].includes(s)) return false;
        throw new ArgumentError(`argument ${i}: '${args[i - 1]}' is not a boolean (true/false)`);
      }
      case 'y': case 'n': case 'q': case 'i': case 'u': case 'h': case 'x': case 't': {
        const s = take(`an integer ('${t.code}')`);
        let v: bigint;
        try {
          if (!/^[-+]?(0x[0-9a-fA-F]+|\d+)$/.test(s)) throw new Error();
          v = s.startsWith('-') ? -BigInt(s.slice(1)) : BigInt(s.replace(/^\+/, ''));
        } catch {
          throw new ArgumentError(`argument ${i}: '${s}' is not an integer (type '${t.code}')`);
        }
        const [lo, hi] = INT_RANGES[t.code];
        if (v < lo || v > hi) throw new ArgumentError(`argument ${i}: ${s} is out of range for type '${t.code}' (${lo}..${hi})`);
        return t.code === 'x' || t.code === 't' ? v : Number(v);
      }
      case 'd': {
        const s = take('a number');
        const v = Number(s);
        if (s.trim() === '' || Number.isNaN(v)) throw new ArgumentError(`argument ${i}: '${s}' is not a number`);
        return v;
      }
      case 's': case 'o': case 'g':
        return take(t.code === 's' ? 'a string' : t.code === 'o' ? 'an object path' : 'a signature');
      case 'v': {
        const sig = take('the signature of a variant');
        let inner: readonly SignatureType[];
        try {
          inner = parseSignature(sig);
        } catch (e) {
          throw new ArgumentError(`argument ${i}: ${(e as Error).message}`);
        }
        if (inner.length !== 1) throw new ArgumentError(`argument ${i}: a variant holds one complete type, '${sig}' has ${inner.length}`);
        return new Variant(sig, one(inner[0]));
      }
      case 'a': {
        const s = take(`the length of array '${t.signature}'`);
        if (!/^\d+$/.test(s)) throw new ArgumentError(`argument ${i}: '${s}' is not an array length (array '${t.signature}' takes its length first)`);
        const n = Number(s);
        const el = t.element!;
        if (el.code === '{') {
          const [kt, vt] = el.fields!;
          const stringKeys = kt.code === 's' || kt.code === 'o' || kt.code === 'g';
          const out: Map<unknown, unknown> | Record<string, unknown> = stringKeys ? {} : new Map();
          for (let k = 0; k < n; k++) {
            const key = one(kt);
            const value = one(vt);
            if (out instanceof Map) out.set(key, value);
            else out[key as string] = value;
          }
          return out;
        }
        const items: unknown[] = [];
        for (let k = 0; k < n; k++) items.push(one(el));
        return el.code === 'y' ? Uint8Array.from(items as number[]) : items;
      }
      case '(':
        return t.fields!.map(one);
      default:
        throw new ArgumentError(`type '${t.code}' cannot be given on the command line`);
    }
  };
  const values = types.map(one);
  if (i < args.length) throw new ArgumentError(`signature '${signature}' takes ${i} argument(s); ${args.length - i} left over: '${args.slice(i).join(' ')}'`);
  return values;
}

function quoteString(s: string): string {
  return JSON.stringify(s);
}

/** Formats values in busctl's syntax: `s "hi"`, `a{sv} 1 "k" u 5`. */
export function formatBusArgs(signature: string, values: readonly unknown[]): string {
  const types = parseSignature(signature);
  const parts: string[] = [signature];
  const one = (t: SignatureType, v: unknown): void => {
    switch (t.code) {
      case 's': case 'o': case 'g':
        parts.push(quoteString(String(v)));
        return;
      case 'b':
        parts.push(v ? 'true' : 'false');
        return;
      case 'v': {
        const variant = v as Variant;
        parts.push(variant.signature);
        one(parseSignature(variant.signature)[0], variant.value);
        return;
      }
      case 'a': {
        const el = t.element!;
        if (el.code === '{') {
          const entries = v instanceof Map ? [...v] : Object.entries(v as Record<string, unknown>);
          parts.push(String(entries.length));
          for (const [k, val] of entries) {
            one(el.fields![0], k);
            one(el.fields![1], val);
          }
          return;
        }
        const items = [...(v as Iterable<unknown>)];
        parts.push(String(items.length));
        for (const item of items) one(el, item);
        return;
      }
      case '(':
        t.fields!.forEach((f, k) => one(f, (v as unknown[])[k]));
        return;
      default:
        parts.push(String(v));
    }
  };
  types.forEach((t, k) => one(t, values[k]));
  return parts.join(' ');
}

/** Values as JSON-able data: bigints as numbers when safe (else strings), bytes as arrays, variants as { type, data }. */
export function toJson(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Variant) return { type: v.signature, data: toJson(v.value) };
  if (v instanceof Uint8Array) return [...v];
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), toJson(x)]));
  if (Array.isArray(v)) return v.map(toJson);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJson(x)]));
  return v;
}
