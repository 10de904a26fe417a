import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMessage, encodeMessage, HeaderMemo, MessageType, ProtocolError, type Message } from './index.js';

const tick = (serial: number, n: number): Message => ({
  type: MessageType.SIGNAL, flags: 0, serial, path: '/bench', interface: 'org.example.Bench', member: 'Tick', signature: 'u', body: [n],
});

/** `bytes` copied into one large buffer at `offset`, as a channel's ring holds its messages. */
function inRing(ring: ArrayBuffer, offset: number, bytes: Uint8Array): Uint8Array {
  const view = new Uint8Array(ring, offset, bytes.length);
  view.set(bytes);
  return view;
}

describe('decoding with a header memo', () => {
  it('decodes a stream of messages exactly as without it, whichever headers repeat', () => {
    const memo = new HeaderMemo();
    const ring = new ArrayBuffer(1 << 16);
    const messages: Message[] = [
      tick(1, 10), tick(2, 11), tick(3, 12),
      { ...tick(4, 0), member: 'Tock' },
      tick(5, 13),
      // The same fields as a call: the type is part of what must match.
      { ...tick(6, 14), type: MessageType.METHOD_CALL },
      { type: MessageType.METHOD_RETURN, flags: 1, serial: 7, replySerial: 6, signature: 's', body: ['a'] },
      { type: MessageType.METHOD_RETURN, flags: 1, serial: 8, replySerial: 7, signature: 's', body: ['b'] },
      { type: MessageType.SIGNAL, flags: 0, serial: 9, path: '/bench', interface: 'org.example.Bench', member: 'Tick', destination: ':1.5', signature: 'u', body: [15] },
      tick(10, 16),
      { ...tick(11, 0), signature: '', body: [] },
      tick(12, 17),
    ];
    let offset = 0;
    for (const endian of ['little', 'big'] as const) {
      for (const m of messages) {
        const bytes = encodeMessage(m, { endian });
        const plain = decodeMessage(bytes);
        const memoed = decodeMessage(inRing(ring, offset, bytes), { memo });
        offset = (offset + bytes.length + 7) & ~7;
        assert.deepEqual(memoed, plain);
      }
    }
  });

  it('takes the fields of a repeated header from the memo, and no others', () => {
    const memo = new HeaderMemo();
    const first = decodeMessage(encodeMessage(tick(1, 1)), { memo });
    assert.equal(memo.member, 'Tick');
    // Marked, the memo shows whether a field came from it or from the bytes.
    memo.path = '/sentinel';
    const second = decodeMessage(encodeMessage(tick(2, 2)), { memo });
    assert.deepEqual([second.serial, second.body], [2, [2]]);
    assert.equal(second.path, '/sentinel', 'a repeated header takes its fields from the memo');
    assert.notEqual(first.path, '/sentinel');
    const other = decodeMessage(encodeMessage({ ...tick(3, 3), path: '/benck' }), { memo });
    assert.equal(other.path, '/benck', 'a changed header is read from its bytes');
    assert.equal(memo.path, '/benck');
  });

  it('still refuses a message that breaks a rule outside the remembered fields', () => {
    const memo = new HeaderMemo();
    const good = encodeMessage(tick(1, 1));
    decodeMessage(good, { memo });
    const zeroSerial = Buffer.from(good);
    zeroSerial.writeUInt32LE(0, 8);
    assert.throws(() => decodeMessage(zeroSerial, { memo }), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_SERIAL');
    const trailing = Buffer.concat([good, Buffer.alloc(4)]);
    trailing.writeUInt32LE(8, 4);
    assert.throws(() => decodeMessage(trailing, { memo }), (e: unknown) => e instanceof ProtocolError && e.code === 'TRAILING_BYTES');
    // A body without a SIGNATURE field, after a header without one was remembered.
    const bare = encodeMessage({ ...tick(2, 0), signature: '', body: [] });
    decodeMessage(bare, { memo });
    const withBody = Buffer.concat([bare, Buffer.alloc(8)]);
    withBody.writeUInt32LE(8, 4);
    assert.throws(() => decodeMessage(withBody, { memo }), (e: unknown) => e instanceof ProtocolError && e.code === 'MISSING_HEADER_FIELD');
    // A signal whose fields are those of a call just remembered lacks the INTERFACE a signal needs.
    const call = encodeMessage({ type: MessageType.METHOD_CALL, flags: 0, serial: 3, path: '/bench', member: 'Tick', body: [] });
    decodeMessage(call, { memo });
    const signal = Buffer.from(call);
    signal[1] = MessageType.SIGNAL;
    assert.throws(() => decodeMessage(signal, { memo }), (e: unknown) => e instanceof ProtocolError && e.code === 'MISSING_HEADER_FIELD');
    // A header field changed by one byte is parsed (and checked) again.
    const bad = Buffer.from(good);
    bad[bad.indexOf('/bench') + 1] = 0x2f; // '/bench' -> '//ench'
    assert.throws(() => decodeMessage(bad, { memo }), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_PATH');
    assert.equal(decodeMessage(good, { memo }).path, '/bench');
  });

  it('takes a reply\'s header from the memo with the REPLY_SERIAL of each reply, and still refuses REPLY_SERIAL 0', () => {
    const memo = new HeaderMemo();
    const ring = new ArrayBuffer(1 << 16);
    let offset = 0;
    for (const endian of ['little', 'big'] as const) {
      for (let serial = 1; serial <= 6; serial++) {
        const m: Message = { type: MessageType.METHOD_RETURN, flags: 0, serial, replySerial: 0x01020300 + serial * 0x01010101, destination: ':1.7', signature: 's', body: [`r${serial}`] };
        const bytes = encodeMessage(m, { endian });
        const memoed = decodeMessage(inRing(ring, offset, bytes), { memo });
        offset = (offset + bytes.length + 7) & ~7;
        assert.deepEqual(memoed, decodeMessage(bytes));
        assert.equal(memoed.replySerial, m.replySerial);
      }
      assert.notEqual(memo.replySerialAt, -1, 'a reply\'s header is remembered');
    }
    const good = encodeMessage({ type: MessageType.METHOD_RETURN, flags: 0, serial: 9, replySerial: 4, destination: ':1.7', signature: 's', body: ['x'] });
    decodeMessage(good, { memo });
    const zero = Buffer.from(good);
    zero.writeUInt32LE(0, memo.replySerialAt);
    assert.throws(() => decodeMessage(zero, { memo }), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_HEADER_FIELD');
    // An error reply with the same other fields is another type: parsed again.
    const error = decodeMessage(encodeMessage({ type: MessageType.ERROR, flags: 0, serial: 10, replySerial: 5, errorName: 'x.Failed', destination: ':1.7', signature: 's', body: ['e'] }), { memo });
    assert.deepEqual([error.type, error.replySerial, error.errorName], [MessageType.ERROR, 5, 'x.Failed']);
  });
});
