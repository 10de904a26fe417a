// The "tagged" JSON form of D-Bus values shared with test/wire-interop.py:
// driven by the signature, exact for every type (64-bit integers as decimal
// strings, `ay` as hex, dicts as [key, value] pairs, variants as [signature, value]).
import { parseSignature, Variant, type SignatureType } from '../src/wire/index.js';

export type Tagged = unknown;

export function fromTagged(t: SignatureType, v: Tagged): unknown {
  switch (t.code) {
    case 'x': case 't': return BigInt(v as string);
    case 'v': {
      const [sig, inner] = v as [string, Tagged];
      return new Variant(sig, fromTagged(parseSignature(sig)[0], inner));
    }
    case 'a': {
      const el = t.element!;
      if (el.code === 'y') return Buffer.from(v as string, 'hex');
      if (el.code === '{') return new Map((v as Array<[Tagged, Tagged]>).map(([k, x]) => [fromTagged(el.fields![0], k), fromTagged(el.fields![1], x)]));
      return (v as Tagged[]).map((x) => fromTagged(el, x));
    }
    case '(': return (v as Tagged[]).map((x, i) => fromTagged(t.fields![i], x));
    default: return v;
  }
}

export function toTagged(t: SignatureType, v: unknown): Tagged {
  switch (t.code) {
    case 'x': case 't': return (v as bigint).toString();
    case 'v': {
      const x = v as Variant;
      return [x.signature, toTagged(parseSignature(x.signature)[0], x.value)];
    }
    case 'a': {
      const el = t.element!;
      if (el.code === 'y') return Buffer.from(v as Uint8Array).toString('hex');
      if (el.code === '{') return [...(v as Map<unknown, unknown>)].map(([k, x]) => [toTagged(el.fields![0], k), toTagged(el.fields![1], x)]);
      return (v as unknown[]).map((x) => toTagged(el, x));
    }
    case '(': return (v as unknown[]).map((x, i) => toTagged(t.fields![i], x));
    default: return v;
  }
}

export function bodyFromTagged(sig: string, body: Tagged[]): unknown[] {
  return parseSignature(sig).map((t, i) => fromTagged(t, body[i]));
}

export function bodyToTagged(sig: string | undefined, body: unknown[]): Tagged[] {
  return parseSignature(sig ?? '').map((t, i) => toTagged(t, body[i]));
}
