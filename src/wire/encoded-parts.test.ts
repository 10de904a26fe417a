// encodeMessageParts: large `ay` values left out of the encoder's buffer as
// spans, which joined give exactly the bytes encodeMessage makes (every
// length, offset and padding after a span unchanged).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMessage, encodeMessage, encodeMessageParts, forEachPart, joinParts, MessageEncoder, MessageType, Variant, type Message } from './index.js';

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

function call(signature: string, body: unknown[]): Message {
  return { type: MessageType.METHOD_CALL, flags: 0, serial: 7, path: '/p', interface: 'a.b', member: 'M', destination: 'a.b', signature, body } as Message;
}

describe('encodeMessageParts', () => {
  const cases: Array<[string, string, unknown[]]> = [
    ['one ay of a length not a multiple of 8', 'ay', [bytes(1001, 1)]],
    ['an ay then values that need alignment', 'ayxsd(ty)', [bytes(203, 2), 5n, 'after', 1.5, [9n, 3]]],
    ['a string then an ay at an offset 4 past alignment', 'say', ['abc', bytes(64, 3)]],
    ['several ay in an array, each a span', 'aay', [[bytes(100, 4), bytes(7, 5), bytes(128, 6)]]],
    ['an ay inside a variant in a dict', 'a{sv}', [{ k: new Variant('ay', bytes(77, 7)), n: new Variant('u', 3) }]],
    ['an ay shorter than the span size', 'ayay', [bytes(3, 8), bytes(90, 9)]],
  ];
  for (const [what, signature, body] of cases) {
    it(`joins to encodeMessage's bytes: ${what}`, () => {
      const whole = encodeMessage(call(signature, body));
      const parts = encodeMessageParts(call(signature, body), 16);
      assert.ok(!Buffer.isBuffer(parts), 'large values were left out');
      assert.equal(parts.byteLength, whole.length);
      assert.ok(parts.head.length < whole.length);
      assert.deepEqual(joinParts(parts), whole);
      const pieces: Uint8Array[] = [];
      forEachPart(parts, (b) => pieces.push(b));
      assert.deepEqual(Buffer.concat(pieces), whole);
      assert.deepEqual(decodeMessage(joinParts(parts)).body, decodeMessage(whole).body);
    });
  }

  it('refers to the caller\'s bytes instead of copying them', () => {
    const big = bytes(4096, 10);
    const parts = encodeMessageParts(call('ay', [big]), 1024);
    assert.ok(!Buffer.isBuffer(parts));
    assert.equal(parts.spans.length, 1);
    assert.equal(parts.spans[0].bytes.buffer, big.buffer);
  });

  it('returns one buffer when no value is that large, and leaves encodeMessage unchanged after', () => {
    const small = encodeMessageParts(call('ay', [bytes(10, 11)]), 1024);
    assert.ok(Buffer.isBuffer(small));
    assert.deepEqual(small, encodeMessage(call('ay', [bytes(10, 11)])));
    encodeMessageParts(call('ay', [bytes(5000, 12)]), 1024);
    const after = encodeMessage(call('ay', [bytes(5000, 12)]));
    assert.equal(after.length, 16 + (after.readUInt32LE(12) + 7 & ~7) + after.readUInt32LE(4));
  });
});

describe('MessageEncoder.encodeParts', () => {
  it('gives encodeMessageParts\'s bytes, as a view of its own buffer up to viewMaxBytes, and the caller\'s own buffer above', () => {
    const enc = new MessageEncoder();
    const small = call('s', ['x']);
    const first = enc.encodeParts(small, 1024, 256) as Buffer;
    assert.ok(Buffer.isBuffer(first));
    assert.deepEqual(first, encodeMessage(small));
    const copy = Buffer.from(first);
    const again = enc.encodeParts({ ...small, serial: 9 } as Message, 1024, 256) as Buffer;
    assert.equal(again.buffer, first.buffer, 'a view of the same buffer');
    assert.equal(decodeMessage(again).serial, 9);
    assert.equal(decodeMessage(first).serial, 9, 'the earlier view is overwritten by the next message');
    assert.equal(decodeMessage(copy).serial, 7);
    const large = call('s', ['y'.repeat(1000)]);
    const owned = enc.encodeParts(large, 1024, 256) as Buffer;
    assert.deepEqual(owned, encodeMessage(large));
    enc.encodeParts(small, 1024, 256);
    assert.equal(decodeMessage(owned).body[0], 'y'.repeat(1000), 'a result above viewMaxBytes is not overwritten');
    const parts = enc.encodeParts(call('say', ['z', bytes(4096, 13)]), 1024, 256);
    assert.ok(!Buffer.isBuffer(parts), 'large values are left out');
    assert.deepEqual(joinParts(parts), encodeMessage(call('say', ['z', bytes(4096, 13)])));
  });
});
