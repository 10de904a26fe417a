// Fuzzer for the wire decoders (the parsers of untrusted input): mutated
// valid messages and random bytes go to decodeMessage, decodeHeader,
// frameLength, decodeValues and checkMessage. Each must return or throw
// ProtocolError, nothing else; checkMessage must accept exactly what
// decodeMessage accepts; a message that decodes must encode again and decode the same.
import { isDeepStrictEqual } from 'node:util';
import {
  checkMessage, decodeHeader, decodeMessage, decodeValues, encodeMessage, frameLength, ProtocolError, Variant, withSender, type Message,
} from '../src/wire/index.js';

/** A small deterministic PRNG (mulberry32), so that a failure can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Valid messages covering every type, both byte orders and every header field. */
export function corpus(): Buffer[] {
  const head = { flags: 0, serial: 9, path: '/org/ex/Obj', interface: 'org.ex.I', member: 'M', destination: ':1.4', sender: 'org.ex.S' };
  const bodies: Array<[string, unknown[]]> = [
    ['', []],
    ['s', ['héllo']],
    ['ybnqiuxtdh', [1, true, -2, 3, -4, 5, -6n, 7n, 0.5, 0]],
    ['a{sv}', [new Map<string, Variant>([['a', new Variant('i', 1)], ['b', new Variant('as', ['x', 'y'])], ['c', new Variant('v', new Variant('(yd)', [1, 2.5]))]])]],
    ['ay', [Buffer.from([1, 2, 3, 4, 5])]],
    ['aa{ia(sy)}', [[new Map([[1, [['q', 1]]]]), new Map()]]],
    ['(oga{ot})', [['/a', 'a{sv}', new Map([['/b', 9n]])]]],
    ['axad', [[1n, 2n], [0.25]]],
    ['vvv', [new Variant('g', 'a(ii)'), new Variant('ah', [0, 0]), new Variant('a{bn}', new Map([[true, -1]]))]],
  ];
  const out: Buffer[] = [];
  for (const [signature, body] of bodies) {
    for (const endian of ['little', 'big'] as const) {
      out.push(encodeMessage({ ...head, type: 1, signature, body }, { endian }));
      out.push(encodeMessage({ type: 2, flags: 1, serial: 3, replySerial: 2, signature, body }, { endian }));
      out.push(encodeMessage({ type: 3, flags: 0, serial: 3, replySerial: 2, errorName: 'a.b.Err', signature, body }, { endian }));
      out.push(encodeMessage({ ...head, type: 4, signature, body }, { endian }));
    }
  }
  return out;
}

const BOUNDARIES = [0, 1, 2, 3, 4, 7, 8, 255, 256, 0x7fffffff, 0xffffffff, 64 << 20, (64 << 20) + 1, 128 << 20, (128 << 20) + 1];
const TYPE_CODES = 'ybnqiuxtdsogvha(){}z\0';

/** One mutation of `input`. */
export function mutate(input: Buffer, rnd: () => number): Buffer {
  const pick = (n: number) => Math.floor(rnd() * n);
  let b = Buffer.from(input);
  const rounds = 1 + pick(4);
  for (let r = 0; r < rounds; r++) {
    if (b.length === 0) b = Buffer.from([pick(256)]);
    const at = pick(b.length);
    switch (pick(8)) {
      case 0: b[at] ^= 1 << pick(8); break;
      case 1: b[at] = pick(256); break;
      case 2: { // a 32-bit length or count to a boundary value, aligned as lengths are
        const p = at & ~3;
        if (p + 4 <= b.length) b.writeUInt32LE(BOUNDARIES[pick(BOUNDARIES.length)] >>> 0, p);
        break;
      }
      case 3: b = b.subarray(0, at); break;
      case 4: b = Buffer.concat([b.subarray(0, at), Buffer.alloc(1 + pick(8), pick(256)), b.subarray(at)]); break;
      case 5: b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + pick(8)))]); break;
      case 6: b[at] = TYPE_CODES.charCodeAt(pick(TYPE_CODES.length)); break;
      default: { // the same, big-endian length
        const p = at & ~3;
        if (p + 4 <= b.length) b.writeUInt32BE(BOUNDARIES[pick(BOUNDARIES.length)] >>> 0, p);
      }
    }
  }
  return b;
}

/** A failure: the input and what went wrong. */
export interface FuzzFailure { input: string; problem: string }

function wrongThrow(e: unknown): boolean {
  return !(e instanceof ProtocolError);
}

/** Runs every decoder on `input`; returns a problem or null. */
export function check(input: Buffer, rnd: () => number): string | null {
  try {
    frameLength(input);
  } catch (e) {
    if (wrongThrow(e)) return `frameLength threw ${String(e)}`;
  }
  try {
    decodeHeader(input);
  } catch (e) {
    if (wrongThrow(e)) return `decodeHeader threw ${(e as Error).stack}`;
  }
  let m: ReturnType<typeof decodeMessage> | undefined;
  const fdCount = rnd() < 0.5 ? undefined : 2;
  try {
    m = decodeMessage(input, { zeroCopy: rnd() < 0.5, fdCount });
  } catch (e) {
    if (wrongThrow(e)) return `decodeMessage threw ${(e as Error).stack}`;
  }
  // checkMessage must accept exactly what decodeMessage accepts.
  let checked = false;
  try {
    checkMessage(input, { fdCount });
    checked = true;
  } catch (e) {
    if (wrongThrow(e)) return `checkMessage threw ${(e as Error).stack}`;
  }
  if (checked !== (m !== undefined)) return `checkMessage ${checked ? 'accepted' : 'refused'} what decodeMessage ${m !== undefined ? 'accepted' : 'refused'}`;
  if (m !== undefined && m.type >= 1 && m.type <= 4) {
    // What decodes must encode again, in the same byte order, and decode the same.
    let again: Buffer;
    try {
      again = encodeMessage(m as Message, { endian: m.endian });
    } catch (e) {
      return `a decoded message did not encode again: ${(e as Error).message}`;
    }
    const m2 = decodeMessage(again);
    if (!isDeepStrictEqual(m2.body, m.body)) return 'a decoded message changed through encode and decode';
    try {
      const moved = decodeMessage(withSender(input, ':1.1'));
      if (!isDeepStrictEqual(moved.body, m.body) || moved.sender !== ':1.1') return 'withSender changed the body or missed the sender';
    } catch (e) {
      return `withSender failed on a valid message: ${(e as Error).message}`;
    }
  }
  const sigs = ['a{sv}', 'v', 'ay', '(ybnqiuxtd)', 'aas', 'a{oa{sv}}', 'h', 'gv'];
  try {
    decodeValues(sigs[Math.floor(rnd() * sigs.length)], input.subarray(Math.min(input.length, 16)), { endian: rnd() < 0.5 ? 'big' : 'little', unixFds: 1 });
  } catch (e) {
    if (wrongThrow(e)) return `decodeValues threw ${(e as Error).stack}`;
  }
  return null;
}

/** Runs `iterations` fuzz cases from `seed`; returns the failures found (at most 10). */
export function fuzzWire(iterations: number, seed: number): FuzzFailure[] {
  const rnd = prng(seed);
  const base = corpus();
  const failures: FuzzFailure[] = [];
  for (let i = 0; i < iterations && failures.length < 10; i++) {
    let input: Buffer;
    if (rnd() < 0.1) {
      // random bytes behind a plausible fixed header
      input = Buffer.alloc(Math.floor(rnd() * 96));
      for (let k = 0; k < input.length; k++) input[k] = Math.floor(rnd() * 256);
      if (input.length >= 4) { input[0] = rnd() < 0.5 ? 0x6c : 0x42; input[3] = 1; }
    } else {
      input = mutate(base[Math.floor(rnd() * base.length)], rnd);
    }
    const problem = check(input, rnd);
    if (problem !== null) failures.push({ input: input.toString('hex'), problem });
  }
  return failures;
}
