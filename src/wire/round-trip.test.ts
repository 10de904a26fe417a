// Property tests: random signatures and values round-trip through the
// encoder and decoder in both byte orders, as bodies and as whole messages.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseSignature, type SignatureType } from './signature.js';
import { Variant } from './variant.js';
import { encodeValues } from './encode-values.js';
import { EncodeError } from './encode-error.js';
import { decodeValues } from './decoder.js';
import { encodeMessage } from './encode-message.js';
import { decodeMessage, decodeHeader } from './decode-message.js';
import { withSender } from './with-sender.js';

const BASIC = 'ybnqiuxtdsogh';

/** Random single complete types, nesting bounded so that values stay small. */
const typeText: fc.Arbitrary<string> = fc.letrec<{ t: string }>((tie) => ({
  t: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...BASIC),
    fc.constant('v'),
    tie('t').map((t) => `a${t}`),
    fc.array(tie('t'), { minLength: 1, maxLength: 4 }).map((ts) => `(${ts.join('')})`),
    fc.tuple(fc.constantFrom(...BASIC), tie('t')).map(([k, v]) => `a{${k}${v}}`),
  ),
})).t;

const signatureText = fc.array(typeText, { maxLength: 4 }).map((ts) => ts.join('')).filter((s) => {
  try {
    parseSignature(s);
    return true;
  } catch {
    return false;
  }
});

const element = fc.stringMatching(/^[A-Za-z0-9_]{1,6}$/);
const objectPath = fc.array(element, { maxLength: 3 }).map((es) => `/${es.join('/')}`);
const text = fc.string({ unit: 'grapheme', maxLength: 12 }).filter((s) => !s.includes('\0'));

function valueOf(t: SignatureType, depth: number): fc.Arbitrary<unknown> {
  switch (t.code) {
    case 'y': return fc.integer({ min: 0, max: 255 });
    case 'b': return fc.boolean();
    case 'n': return fc.integer({ min: -32768, max: 32767 });
    case 'q': return fc.integer({ min: 0, max: 65535 });
    case 'i': return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    case 'u': return fc.integer({ min: 0, max: 2 ** 32 - 1 });
    case 'h': return fc.integer({ min: 0, max: 3 });
    case 'x': return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    case 't': return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
    case 'd': return fc.double();
    case 's': return text;
    case 'o': return objectPath;
    case 'g': return signatureText;
    case 'v': {
      const inner = depth > 2 ? fc.constantFrom(...BASIC) : typeText.filter((s) => parseSignature(s).length === 1);
      return inner.chain((sig) => valueOf(parseSignature(sig)[0], depth + 1).map((v) => new Variant(sig, v)));
    }
    case 'a': {
      const el = t.element!;
      if (el.code === 'y') return fc.uint8Array({ maxLength: 16 }).map((u) => Buffer.from(u));
      if (el.code === '{') {
        const [k, v] = el.fields!;
        return fc.uniqueArray(fc.tuple(valueOf(k, depth + 1), valueOf(v, depth + 1)), { maxLength: 3, comparator: (a, b) => Object.is(a[0], b[0]) || (a[0] === 0 && b[0] === 0) })
          .map((es) => new Map(es));
      }
      return fc.array(valueOf(el, depth + 1), { maxLength: 3 });
    }
    case '(': return fc.tuple(...t.fields!.map((f) => valueOf(f, depth + 1)));
    default: throw new Error(`no arbitrary for ${t.code}`);
  }
}

const body = signatureText.chain((sig) => fc.tuple(fc.constant(sig), fc.tuple(...parseSignature(sig).map((t) => valueOf(t, 0)))));
const runs = { numRuns: 300 };

describe('round trips (property)', () => {
  it('random signatures and values decode to what was encoded, in both byte orders', () => {
    fc.assert(fc.property(body, fc.constantFrom<'little' | 'big'>('little', 'big'), ([sig, values], endian) => {
      const bytes = encodeValues(sig, values, { endian });
      assert.deepStrictEqual(decodeValues(sig, bytes, { endian, unixFds: 4 }), values);
      assert.deepStrictEqual(decodeValues(sig, bytes, { endian, unixFds: 4, zeroCopy: true }), values);
    }), runs);
  });

  it('random messages round-trip whole, header only, and through withSender', () => {
    const header = fc.record({
      serial: fc.integer({ min: 1, max: 2 ** 32 - 1 }),
      flags: fc.integer({ min: 0, max: 255 }),
      path: objectPath,
      member: element.filter((s) => !/^[0-9]/.test(s)),
      interface: fc.option(fc.constant('org.example.Iface'), { nil: undefined }),
      destination: fc.option(fc.constantFrom(':1.5', 'org.ex-ample.App'), { nil: undefined }),
    });
    fc.assert(fc.property(header, body, fc.constantFrom<'little' | 'big'>('little', 'big'), (h, [signature, values], endian) => {
      const bytes = encodeMessage({ type: 1, ...h, signature, body: values }, { endian });
      const m = decodeMessage(bytes);
      assert.deepStrictEqual(m.body, values);
      assert.equal(m.serial, h.serial);
      assert.equal(m.flags, h.flags);
      assert.equal(m.path, h.path);
      assert.equal(m.interface, h.interface);
      assert.equal(m.destination, h.destination);
      assert.equal(m.endian, endian);
      const head = decodeHeader(bytes);
      assert.equal(head.totalLength, bytes.length);
      const moved = withSender(bytes, ':1.77', head);
      const mm = decodeMessage(moved);
      assert.equal(mm.sender, ':1.77');
      assert.deepStrictEqual(mm.body, values);
      assert.deepStrictEqual(moved.subarray(mm.headerLength), bytes.subarray(head.headerLength));
    }), { numRuns: 200 });
  });

  it('any JavaScript value against any signature encodes or fails with an EncodeError, and the next encode still works', () => {
    const values = fc.array(fc.oneof(fc.anything({ withMap: true, withBigInt: true, withTypedArray: true, maxDepth: 3 }),
      fc.constant(new Variant('zz', 1)), fc.constant(new Variant('s', 5))), { maxLength: 4 });
    fc.assert(fc.property(signatureText, values, (sig, vals) => {
      try {
        const bytes = encodeValues(sig, vals);
        decodeValues(sig, bytes, { unixFds: 2 ** 32 - 1 });
      } catch (e) {
        assert.ok(e instanceof EncodeError, `${sig}: ${String(e)}`);
      }
      assert.deepStrictEqual(decodeValues('s', encodeValues('s', ['ok'])), ['ok']);
    }), { numRuns: 500 });
  });

  it('little- and big-endian encodings of the same values have the same length', () => {
    fc.assert(fc.property(body, ([sig, values]) => {
      assert.equal(encodeValues(sig, values, { endian: 'little' }).length, encodeValues(sig, values, { endian: 'big' }).length);
    }), runs);
  });
});
