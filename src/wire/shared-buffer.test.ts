// Decoding messages that sit at different offsets of one large buffer (a
// channel's ring or payload arena delivers views of its mapping), and from
// another large buffer after it: each decode reads its own message, in both
// byte orders, with numbers and strings read through the right view; the
// decoder lets go of a large input once the job that decoded it has ended.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
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

  it('does not keep a large input alive once the job that decoded it has ended', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    v8.setFlagsFromString('--no-expose-gc');
    let collected = false;
    const registry = new FinalizationRegistry<string>(() => { collected = true; });
    (() => {
      const big = new Uint8Array(4 << 20);
      const bytes = signal(7, 'little');
      big.set(bytes, 64);
      // Decoded twice in one job: the second decode reuses the view the first one made.
      for (let i = 0; i < 2; i++) assert.equal(decodeMessage(new Uint8Array(big.buffer, 64, bytes.length)).serial, 8);
      registry.register(big.buffer, 'big');
    })();
    // The watchdog: a bounded number of turns, each ending a job and collecting.
    for (let turn = 0; turn < 50 && !collected; turn++) {
      await new Promise((resolve) => setImmediate(resolve));
      gc();
    }
    assert.ok(collected, 'the 4 MiB input is still reachable after its job ended');
    // A small message decodes right after the large input was let go.
    assert.equal(decodeMessage(signal(3, 'big')).serial, 4);
  });
});
