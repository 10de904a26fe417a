// Strict decoding: every malformation of the specification is a ProtocolError
// with a code, and every limit holds at `limit` and fails at `limit + 1`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeMessage, decodeValues, encodeMessage, encodeValues, frameLength, decodeHeader, checkMessage, ProtocolError, EncodeError, Variant,
  MAX_ARRAY_LENGTH, MAX_MESSAGE_LENGTH,
} from './index.js';

function code(c: string): (e: unknown) => boolean {
  return (e: unknown) => {
    if (!(e instanceof ProtocolError)) return false;
    assert.equal(e.code, c, e.message);
    return true;
  };
}

const le = (...words: number[]) => Buffer.concat(words.map((w) => { const b = Buffer.alloc(4); b.writeUInt32LE(w); return b; }));
const signal = { type: 4, flags: 0, serial: 1, path: '/a', interface: 'a.b', member: 'C' };

describe('strict decoding of values', () => {
  it('accepts booleans 0 and 1 only', () => {
    assert.deepEqual(decodeValues('bb', le(0, 1)), [false, true]);
    assert.throws(() => decodeValues('b', le(2)), code('BAD_BOOLEAN'));
  });

  it('requires padding bytes to be zero', () => {
    assert.deepEqual(decodeValues('yu', Buffer.from([1, 0, 0, 0, 5, 0, 0, 0])), [1, 5]);
    assert.throws(() => decodeValues('yu', Buffer.from([1, 0, 9, 0, 5, 0, 0, 0])), code('BAD_PADDING'));
  });

  it('requires strings to be valid UTF-8, NUL-terminated, without inner NUL', () => {
    assert.deepEqual(decodeValues('s', Buffer.concat([le(2), Buffer.from([0xc3, 0xa9, 0])])), ['é']);
    assert.throws(() => decodeValues('s', Buffer.concat([le(2), Buffer.from([0xc3, 0x28, 0])])), code('BAD_STRING'));
    assert.throws(() => decodeValues('s', Buffer.concat([le(3), Buffer.from([0xed, 0xa0, 0x80, 0])])), code('BAD_STRING'), 'a UTF-16 surrogate');
    assert.throws(() => decodeValues('s', Buffer.concat([le(2), Buffer.from([0xc0, 0x80, 0])])), code('BAD_STRING'), 'overlong NUL');
    assert.throws(() => decodeValues('s', Buffer.concat([le(3), Buffer.from('a\0b\0')])), code('BAD_STRING'));
    assert.throws(() => decodeValues('s', Buffer.concat([le(1), Buffer.from('ab')])), code('BAD_STRING'));
    const long = 'x'.repeat(100);
    assert.throws(() => decodeValues('s', Buffer.concat([le(100), Buffer.from(`${long.slice(0, 50)}\0${long.slice(51)}\0`)])), code('BAD_STRING'));
    assert.throws(() => decodeValues('g', Buffer.from([1, 0x7a, 0])), code('BAD_SIGNATURE'));
  });

  it('checks object paths, and variant signatures as one complete type', () => {
    assert.throws(() => decodeValues('o', Buffer.concat([le(2), Buffer.from('a/\0')])), code('BAD_PATH'));
    assert.throws(() => decodeValues('v', Buffer.from([2, 0x69, 0x69, 0, 0, 0, 0, 0, 0, 0, 0, 0])), code('BAD_SIGNATURE'));
    assert.throws(() => decodeValues('v', Buffer.from([0, 0])), code('BAD_SIGNATURE'));
  });

  it('reads a two-character array signature (ay, as) as one type, and refuses an incomplete or unknown one', () => {
    const sig = (text: string) => Buffer.from([text.length, ...Buffer.from(text), 0]);
    assert.deepEqual(decodeValues('v', Buffer.concat([sig('ay'), le(3), Buffer.from([1, 2, 3])])), [new Variant('ay', Buffer.from([1, 2, 3]))]);
    assert.deepEqual(decodeValues('v', Buffer.concat([sig('as'), le(8, 3), Buffer.from('abc\0')])), [new Variant('as', ['abc'])]);
    assert.deepEqual(decodeValues('gg', Buffer.concat([sig('au'), sig('s')])), ['au', 's']);
    for (const text of ['aa', 'a(', 'a{', 'az', 'a)']) {
      assert.throws(() => decodeValues('v', Buffer.concat([sig(text), le(0)])), code('BAD_SIGNATURE'), text);
    }
    assert.throws(() => decodeValues('g', Buffer.from([2, 0x61, 0x79])), code('TRUNCATED'));
    assert.throws(() => decodeValues('g', Buffer.from([2, 0x61, 0x79, 0x79])), code('BAD_STRING'));
  });

  it('keeps array elements inside the array length, and reads no bytes past the end', () => {
    assert.throws(() => decodeValues('au', le(6, 1, 2)), code('BAD_ARRAY'));
    assert.throws(() => decodeValues('au', le(12, 1, 2)), code('TRUNCATED'));
    assert.throws(() => decodeValues('u', Buffer.from([1, 2])), code('TRUNCATED'));
    assert.throws(() => decodeValues('s', le(1000)), code('TRUNCATED'));
    assert.throws(() => decodeValues('u', le(1, 2)), code('TRAILING_BYTES'));
  });

  it('checks unix fd indexes against UNIX_FDS', () => {
    assert.deepEqual(decodeValues('h', le(1), { unixFds: 2 }), [1]);
    assert.throws(() => decodeValues('h', le(2), { unixFds: 2 }), code('BAD_FD'));
  });
});

describe('strict decoding of messages', () => {
  const good = () => encodeMessage({ ...signal, signature: 'u', body: [7] });

  it('rejects a bad byte order, version, type 0, serial 0', () => {
    const b = good(); b[0] = 0x41;
    assert.throws(() => decodeMessage(b), code('BAD_ENDIAN'));
    const v = good(); v[3] = 2;
    assert.throws(() => decodeMessage(v), code('BAD_VERSION'));
    const t = good(); t[1] = 0;
    assert.throws(() => decodeMessage(t), code('BAD_TYPE'));
    const s = good(); s.writeUInt32LE(0, 8);
    assert.throws(() => decodeMessage(s), code('BAD_SERIAL'));
  });

  it('decodes a message of an unknown type without requiring fields (receivers ignore it)', () => {
    const b = good(); b[1] = 9;
    assert.equal(decodeMessage(b).type, 9);
  });

  it('rejects missing required fields, wrong field signatures, duplicate fields, field code 0', () => {
    const ret = encodeMessage({ type: 2, flags: 0, serial: 1, replySerial: 5, body: [] });
    assert.equal(decodeMessage(ret).replySerial, 5);
    // REPLY_SERIAL (code 5) turned into an unknown code 50: the return lacks its reply serial
    const noReply = Buffer.from(ret); noReply[16] = 50;
    assert.throws(() => decodeMessage(noReply), code('MISSING_HEADER_FIELD'));
    const zero = Buffer.from(ret); zero[16] = 0;
    assert.throws(() => decodeMessage(zero), code('BAD_HEADER_FIELD'));
    const wrongSig = Buffer.from(ret); wrongSig[18] = 0x69;
    assert.throws(() => decodeMessage(wrongSig), code('BAD_HEADER_FIELD'));
    const rs0 = Buffer.from(ret); rs0.writeUInt32LE(0, 20);
    assert.throws(() => decodeMessage(rs0), code('BAD_HEADER_FIELD'));
    const twoPaths = encodeMessage({ ...signal, member: 'C', body: [] });
    // rename the INTERFACE field (code 2) into a second PATH (code 1): a duplicate and a bad path at once; duplicate is reported
    const dup = Buffer.from(twoPaths); dup[16 + 8 + 8] = 1;
    assert.throws(() => decodeMessage(dup), code('BAD_HEADER_FIELD'));
  });

  it('requires every byte of the padding before a header field to be zero, whatever its length', () => {
    const lengths = new Set<number>();
    for (let n = 1; n <= 8; n++) {
      // Member names of 1 to 8 characters leave 1 to 7 bytes of padding (and none) before the next field.
      const bytes = encodeMessage({ ...signal, member: 'M'.repeat(n), signature: 'u', body: [1] });
      const fieldsEnd = 16 + bytes.readUInt32LE(12);
      let p = 16;
      while (p < fieldsEnd) {
        const q = (p + 7) & -8;
        if (p > 16) lengths.add(q - p);
        for (let i = p; i < q; i++) {
          const bad = Buffer.from(bytes);
          bad[i] = 0x80;
          assert.throws(() => decodeMessage(bad), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_PADDING' && e.message.includes(`offset ${i} `), `byte ${i}`);
        }
        // A field: code, a one-character signature, its value (a string, or a signature for SIGNATURE).
        p = q + 4;
        if (bytes[q + 2] === 0x67) p += 1 + bytes[p] + 1;
        else p += 4 + bytes.readUInt32LE(p) + 1;
      }
      assert.equal(p, fieldsEnd);
      assert.equal(decodeMessage(bytes).member, 'M'.repeat(n));
    }
    assert.deepEqual([...lengths].sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('rejects a body without SIGNATURE, trailing or missing bytes, and more fds than arrived', () => {
    const b = good();
    assert.throws(() => decodeMessage(b.subarray(0, b.length - 1)), code('TRUNCATED'));
    assert.throws(() => decodeMessage(Buffer.concat([b, Buffer.alloc(8)])), code('TRAILING_BYTES'));
    const fds = encodeMessage({ ...signal, signature: 'h', body: [0] });
    assert.throws(() => decodeMessage(fds, { fdCount: 0 }), code('BAD_FD'));
    assert.deepEqual(decodeMessage(fds, { fdCount: 1 }).body, [0]);
    const none = encodeMessage({ ...signal, body: [] });
    const withBody = Buffer.concat([none, Buffer.alloc(8)]);
    withBody.writeUInt32LE(8, 4);
    assert.throws(() => decodeMessage(withBody), code('MISSING_HEADER_FIELD'));
  });

  it('decodes the header of a message whose body has not arrived', () => {
    const b = encodeMessage({ ...signal, signature: 'ay', body: [Buffer.alloc(1000)] });
    const headerLength = decodeHeader(b).headerLength;
    const h = decodeHeader(b.subarray(0, headerLength));
    assert.equal(h.totalLength, b.length);
    assert.throws(() => decodeHeader(b.subarray(0, headerLength - 1)), code('TRUNCATED'));
    assert.throws(() => decodeHeader(b.subarray(0, 20)), code('TRUNCATED'));
  });
});

describe('limits at the limit and one past it', () => {
  it('a 255-byte signature travels; 256 bytes cannot be encoded', () => {
    const sig = 'y'.repeat(255);
    const m = decodeMessage(encodeMessage({ ...signal, signature: sig, body: new Array(255).fill(1) }));
    assert.equal(m.signature, sig);
    assert.throws(() => encodeMessage({ ...signal, signature: `${sig}y`, body: new Array(256).fill(1) }), EncodeError);
  });

  it('variant signatures nest arrays 32 deep, not 33', () => {
    const bytes = (n: number) => {
      const sig = `${'a'.repeat(n)}y`;
      const head = Buffer.concat([Buffer.from([sig.length]), Buffer.from(sig), Buffer.from([0])]);
      return Buffer.concat([head, Buffer.alloc((4 - (head.length % 4)) % 4), le(0)]);
    };
    assert.deepEqual(decodeValues('v', bytes(32)), [new Variant(`${'a'.repeat(32)}y`, [])]);
    assert.throws(() => decodeValues('v', bytes(33)), code('BAD_SIGNATURE'));
  });

  it('values nest 64 deep through variants, not 65, both ways', () => {
    let deep: Variant = new Variant('y', 5);
    for (let i = 0; i < 63; i++) deep = new Variant('v', deep);
    const bytes = encodeValues('v', [deep]);
    assert.equal(decodeValues('v', bytes).length, 1);
    assert.throws(() => encodeValues('v', [new Variant('v', deep)]), EncodeError);
    const deeper = Buffer.concat([Buffer.from([1, 0x76, 0]), bytes]);
    assert.throws(() => decodeValues('v', deeper), code('TOO_DEEP'));
  });

  it('structs nest 32 deep across variants, not 33', () => {
    // 20 structs around a variant holding n more
    const nest = (n: number) => {
      let inner: unknown = 1;
      for (let i = 0; i < n; i++) inner = [inner];
      let outer: unknown = new Variant(`${'('.repeat(n)}y${')'.repeat(n)}`, inner);
      for (let i = 0; i < 20; i++) outer = [outer];
      return new Variant(`${'('.repeat(20)}v${')'.repeat(20)}`, outer);
    };
    const ok = encodeValues('v', [nest(12)]);
    assert.deepEqual(decodeValues('v', ok), [nest(12)]);
    assert.throws(() => encodeValues('v', [nest(13)]), /structs nested too deep/);
    // Decoding: the outer 20 structs start at offset 0; the variant's value is padded to 8.
    const outer = `${'('.repeat(20)}v${')'.repeat(20)}`;
    const bytes = (n: number) => {
      const sig = `${'('.repeat(n)}y${')'.repeat(n)}`;
      const head = Buffer.from([sig.length, ...Buffer.from(sig), 0]);
      return Buffer.concat([head, Buffer.alloc((8 - (head.length % 8)) % 8), Buffer.from([1])]);
    };
    assert.equal(decodeValues(outer, bytes(12)).length, 1);
    assert.throws(() => decodeValues(outer, bytes(13)), code('TOO_DEEP'));
  });

  it(`arrays hold ${MAX_ARRAY_LENGTH} bytes, not one more`, () => {
    const at = Buffer.alloc(MAX_ARRAY_LENGTH);
    const bytes = encodeValues('ay', [at]);
    assert.equal((decodeValues('ay', bytes, { zeroCopy: true })[0] as Buffer).length, MAX_ARRAY_LENGTH);
    assert.throws(() => encodeValues('ay', [Buffer.alloc(MAX_ARRAY_LENGTH + 1)]), EncodeError);
    assert.throws(() => decodeValues('ay', le(MAX_ARRAY_LENGTH + 1)), code('ARRAY_TOO_LONG'));
  });

  it(`messages hold ${MAX_MESSAGE_LENGTH} bytes, not one more`, () => {
    const probe = encodeMessage({ ...signal, signature: 'ayay', body: [Buffer.alloc(0), Buffer.alloc(0)] });
    const headerLength = decodeHeader(probe).headerLength;
    // body: u32 + 64 MiB, then u32 + the rest, to exactly the limit
    const second = MAX_MESSAGE_LENGTH - headerLength - 4 - MAX_ARRAY_LENGTH - 4;
    const big = encodeMessage({ ...signal, signature: 'ayay', body: [Buffer.alloc(MAX_ARRAY_LENGTH), Buffer.alloc(second)] });
    assert.equal(big.length, MAX_MESSAGE_LENGTH);
    assert.equal(frameLength(big), MAX_MESSAGE_LENGTH);
    assert.equal(decodeMessage(big, { zeroCopy: true }).body.length, 2);
    assert.throws(() => encodeMessage({ ...signal, signature: 'ayay', body: [Buffer.alloc(MAX_ARRAY_LENGTH), Buffer.alloc(second + 1)] }), EncodeError);
    const over = Buffer.from(big.subarray(0, headerLength));
    over.writeUInt32LE(over.readUInt32LE(4) + 1, 4);
    assert.throws(() => frameLength(over), code('MESSAGE_TOO_LONG'));
    assert.throws(() => decodeMessage(over), code('MESSAGE_TOO_LONG'));
  });
});

describe('checkMessage', () => {
  it('returns the header of a valid message without building its body', () => {
    const bytes = encodeMessage({ ...signal, signature: 'a{sv}aoay', body: [new Map([['k', new Variant('(bh)', [true, 0])]]), ['/a', '/'], Buffer.alloc(10)], unixFds: 1 });
    assert.deepEqual(checkMessage(bytes), decodeHeader(bytes));
    assert.throws(() => checkMessage(bytes, { fdCount: 0 }), code('BAD_FD'));
  });

  it('refuses what decodeMessage refuses in a body', () => {
    const body = (signature: string, bytes: Buffer) => {
      const head = encodeMessage({ ...signal, signature, body: signature === 'b' ? [true] : signature === 'o' ? ['/x'] : signature === 'au' ? [[1, 2]] : ['é'] });
      const h = decodeHeader(head);
      const out = Buffer.concat([head.subarray(0, h.headerLength), bytes]);
      out.writeUInt32LE(bytes.length, 4);
      return out;
    };
    for (const [sig, bytes, c] of [
      ['b', le(2), 'BAD_BOOLEAN'],
      ['o', Buffer.concat([le(3), Buffer.from('/a/\0')]), 'BAD_PATH'],
      ['au', le(6, 1, 2), 'BAD_ARRAY'],
      ['s', Buffer.concat([le(2), Buffer.from([0xc3, 0x28, 0])]), 'BAD_STRING'],
    ] as Array<[string, Buffer, string]>) {
      const msg = body(sig, bytes);
      assert.throws(() => decodeMessage(msg), code(c));
      assert.throws(() => checkMessage(msg), code(c));
    }
  });
});
