// Decoding messages that sit at different offsets of one large buffer (a
// channel's ring or payload arena delivers views of its mapping), and from
// another large buffer after it: each decode reads its own message, in both
// byte orders, with numbers and strings read through the right view.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMessage, encodeMessage, MessageType, type Message } from './index.js';

function signal(n: number, endian: 'little' | 'big'): Buffer {
  const msg = {
    type: MessageType.SIGNAL, flags: 0, serial: n + 1, path: '/org/example/Obj', interface: 'org.example.Iface', member: 'Tick',
    signature: 'sdxt', body: [`tick number ${n}`, n / 7, BigInt(-n) * 1000003n, BigInt(n) << 40n],
  } as Message;
  return encodeMessage(msg, { endian });
}

describe('decoding views of large buffers', () => {
  it('reads each message at its own offset of one large buffer, and of the next buffer', () => {
    for (const round of [0, 1]) {
      const big = new Uint8Array(1 << 20);
      const at: Array<[number, number]> = [];
      let pos = 8 * round;
      for (let n = 0; n < 200; n++) {
        const bytes = signal(n + 1000 * round, n % 2 === 0 ? 'little' : 'big');
        big.set(bytes, pos);
        at.push([pos, bytes.length]);
        pos += bytes.length + 8 * ((n % 3) + 1);
      }
      at.forEach(([offset, length], n) => {
        const m = decodeMessage(new Uint8Array(big.buffer, offset, length));
        const k = n + 1000 * round;
        assert.equal(m.serial, k + 1);
        assert.deepEqual(m.body, [`tick number ${k}`, k / 7, BigInt(-k) * 1000003n, BigInt(k) << 40n]);
      });
    }
  });
});
