// A large message that lands in the receive pool is decoded in place (its
// `ay` a view of the slab) and often sent straight back (an echo, a proxy):
// once the program drops it, the pool's young collection must free the slab.
// Neither the decoder nor the parts encoder may keep the slab's buffer alive
// (the decoder kept a WeakRef to a view of each large input: a WeakRef's
// target survives V8's young collections, so the slab stayed lent until a
// full collection).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ReceivePool } from '../src/channel/receive-pool.js';
import { decodeMessage, encodeMessage, encodeMessageParts, joinParts, MessageType, type EncodedParts } from '../src/wire/index.js';

const BODY_BYTES = 1 << 20;
const SPAN_MIN_BYTES = 64 << 10;

/** Waits, sleeping 1 ms at a time (a count, not a time bound), until `done()`. */
async function sleepUntil(done: () => boolean, sleeps = 5000): Promise<boolean> {
  for (let i = 0; i < sleeps && !done(); i++) await sleep(1);
  return done();
}

/** Lands a call carrying `body` in a slab of `pool`, decodes it in place, and encodes the reply around the decoded value. */
function echoThroughSlab(pool: ReceivePool, body: Uint8Array): { sum: number; replyBytes: number } {
  const call = encodeMessage({ type: MessageType.METHOD_CALL, flags: 0, serial: 7, path: '/echo', member: 'EchoBytes', destination: ':1.2', signature: 'ay', body: [body] });
  const landed = pool.take(call.byteLength);
  assert.ok(landed !== null, 'the pool lends a slab');
  landed.set(call);
  const msg = decodeMessage(landed, { zeroCopy: true });
  const value = msg.body[0] as Uint8Array;
  assert.equal(value.buffer, landed.buffer, 'the value is a view of the slab');
  const parts = encodeMessageParts({ type: MessageType.METHOD_RETURN, flags: 0, serial: 8, replySerial: 7, destination: ':1.1', signature: 'ay', body: [value] }, SPAN_MIN_BYTES);
  assert.ok(!(parts instanceof Uint8Array), 'the value is left out of the encoded reply as a span');
  const reply = joinParts(parts as EncodedParts);
  let sum = 0;
  for (let i = 0; i < value.length; i += 4096) sum += value[i];
  return { sum, replyBytes: reply.byteLength };
}

describe('a large body decoded in place from the receive pool', () => {
  it('gives its slab back at the young collection after the program dropped it, also when it was sent on as a span', async () => {
    const pool = new ReceivePool();
    const body = new Uint8Array(BODY_BYTES).fill(0x5a);
    const { sum, replyBytes } = echoThroughSlab(pool, body);
    assert.equal(sum, 0x5a * (BODY_BYTES / 4096));
    assert.ok(replyBytes > BODY_BYTES);
    assert.equal(pool.stats.free, 0, 'lent while the message lives');
    // A turn later nothing of the message is on the stack.
    await new Promise((resolve) => setImmediate(resolve));
    pool.collect();
    assert.ok(await sleepUntil(() => pool.stats.free === 1), 'the slab is free again after the young collection');
    const again = pool.take(BODY_BYTES);
    assert.equal(pool.stats.reuses, 1, 'and lent again, without mapping a new one');
    assert.equal(again?.byteLength, BODY_BYTES);
  });
});
