// Repeated header fields are copied from the bytes of the last message with
// the same fields: every message must still encode to exactly the bytes a
// fresh encoder makes, whatever came before it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeMessage, MessageEncoder } from './encode-message.js';
import { decodeMessage } from './decode-message.js';
import { MessageType, type Message } from './message.js';
import { Variant } from './variant.js';

function fresh(msg: Message, endian?: 'little' | 'big'): Buffer {
  return Buffer.from(new MessageEncoder().encode(msg, { endian }));
}

const call = (serial: number, extra: Partial<Message> = {}): Message => ({
  type: MessageType.METHOD_CALL, flags: 0, serial, path: '/bench', interface: 'com.example.Bench', member: 'Echo',
  destination: 'com.example.Bench.Fastbus', signature: 's', body: [`payload ${serial}`], ...extra,
});
const ret = (serial: number, replySerial: number, extra: Partial<Message> = {}): Message => ({
  type: MessageType.METHOD_RETURN, flags: 0, serial, replySerial, destination: ':1.7', signature: 's', body: ['x'.repeat(serial % 5)], ...extra,
});

describe('header template', () => {
  it('encodes repeated calls and replies to the bytes a fresh encoder makes', () => {
    const msgs: Message[] = [];
    for (let i = 1; i <= 6; i++) msgs.push(call(i));
    for (let i = 7; i <= 12; i++) msgs.push(ret(i, 1000 + i));
    for (let i = 13; i <= 18; i++) msgs.push(i % 2 ? call(i) : ret(i, 5 * i));
    for (const m of msgs) {
      const bytes = encodeMessage(m);
      assert.deepEqual(bytes, fresh(m));
      const d = decodeMessage(bytes);
      assert.equal(d.serial, m.serial);
      assert.equal(d.replySerial, m.replySerial);
      assert.deepEqual(d.body, m.body);
    }
  });

  it('does not reuse fields when any of them, the byte order or the fd count changes', () => {
    const variants: Message[] = [
      call(1), call(2), call(3, { member: 'Other' }), call(4, { member: 'Other' }), call(5, { member: 'Other' }),
      call(6, { destination: ':1.9' }), call(7, { destination: ':1.9' }), call(8, { destination: ':1.9', signature: 'h', body: [0] }),
      call(9, { destination: ':1.9', signature: 'h', body: [0] }), call(10, { destination: ':1.9', signature: 'h', body: [0], unixFds: 2 }),
      call(11, { sender: ':1.3' }), call(12, { sender: ':1.3' }), call(13, { path: '/other' }), call(14, { path: '/other' }),
      ret(15, 1), ret(16, 2), ret(17, 3, { signature: '', body: [] }), ret(18, 4, { signature: '', body: [] }),
      { type: MessageType.ERROR, flags: 0, serial: 19, replySerial: 9, errorName: 'com.example.Error', destination: ':1.7', signature: 's', body: ['no'] },
      { type: MessageType.ERROR, flags: 0, serial: 20, replySerial: 10, errorName: 'com.example.Error', destination: ':1.7', signature: 's', body: ['no'] },
      { type: MessageType.ERROR, flags: 0, serial: 21, replySerial: 11, errorName: 'com.example.Error2', destination: ':1.7', signature: 's', body: ['no'] },
      call(22, { unknownFields: [{ code: 20, value: new Variant('s', 'x') }] }), call(23, { unknownFields: [{ code: 20, value: new Variant('s', 'x') }] }),
      call(24), call(25), call(26, { unknownFields: [{ code: 21, value: new Variant('u', 1) }] }), call(27),
    ];
    for (const m of variants) assert.deepEqual(encodeMessage(m), fresh(m), `message ${m.serial}`);
    for (const endian of ['big', 'little', 'big'] as const) {
      for (let i = 30; i < 33; i++) assert.deepEqual(encodeMessage(call(i), { endian }), fresh(call(i), endian), `${endian} ${i}`);
    }
  });

  it('checks the names of a repeated header as strictly as a new one', () => {
    encodeMessage(call(1));
    encodeMessage(call(2));
    assert.throws(() => encodeMessage(call(3, { member: 'Bad.Member' })), TypeError);
    assert.throws(() => encodeMessage(call(4, { serial: 0 })), TypeError);
    assert.deepEqual(encodeMessage(call(5)), fresh(call(5)));
  });
});
