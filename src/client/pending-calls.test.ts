// PendingCalls on its own: calls found by serial whatever their slots, even
// when long-lived calls collide with later ones and the table grows; settled
// once; failed in the order they were made; the default timeout's one timer
// times out exactly the calls whose time is up.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType, type Message } from '../wire/index.js';
import { ReplyPick } from './connection-options.js';
import { TimeoutError } from './errors.js';
import { PendingCalls } from './pending-calls.js';

function call(member: string): Message {
  return { type: MessageType.METHOD_CALL, flags: 0, serial: 0, path: '/', member, body: [] };
}

function reply(to: number): Message {
  return { type: MessageType.METHOD_RETURN, flags: 0, serial: 1, replySerial: to, body: [to] };
}

describe('PendingCalls', () => {
  it('finds every waiting call by serial while long-lived calls hold slots that later serials map to, and settles each once', async () => {
    const calls = new PendingCalls({}, 0);
    const results = new Map<number, Promise<unknown>>();
    // Every 97th call stays: the ones after it that map to its slot go elsewhere, and the table grows.
    const kept: number[] = [];
    for (let serial = 1; serial <= 20000; serial++) {
      results.set(serial, calls.add(serial, call(`M${serial}`), ReplyPick.FIRST, {}, undefined));
      if (serial % 97 === 0) kept.push(serial);
      if (serial > 50) {
        const done = serial - 50;
        if (done % 97 !== 0) {
          const p = calls.get(done);
          assert.equal(p?.serial, done);
          calls.answer(p, reply(done));
          calls.answer(p, reply(done)); // a second reply to the same call changes nothing
          assert.equal(calls.get(done), undefined);
        }
      }
    }
    for (const serial of kept) assert.equal(calls.get(serial)?.message.member, `M${serial}`);
    for (let serial = 19951; serial <= 20000; serial++) if (serial % 97 !== 0) calls.answer(calls.get(serial)!, reply(serial));
    assert.equal(calls.size, kept.length);
    const order: number[] = [];
    calls.failAll((p) => {
      order.push(p.serial);
      return new Error(`failed ${p.serial}`);
    });
    assert.deepEqual(order, kept, 'failed oldest first');
    assert.equal(calls.size, 0);
    for (const [serial, r] of results) {
      if (serial % 97 === 0) await assert.rejects(r, new RegExp(`failed ${serial}$`));
      else assert.equal(await r, serial);
    }
  });

  it('fails only the calls that match, leaving the others to their replies', async () => {
    const calls = new PendingCalls({}, 0);
    const a = calls.add(1, call('A'), ReplyPick.FIRST, {}, ':1.5');
    const b = calls.add(2, call('B'), ReplyPick.FIRST, {}, undefined);
    calls.failAll(() => new Error('peer gone'), (p) => p.via === ':1.5');
    await assert.rejects(a, /peer gone/);
    calls.answer(calls.get(2)!, reply(2));
    assert.equal(await b, 2);
  });

  it('times out the calls under the default timeout with one timer, and a call with its own timeout by its own', async () => {
    const calls = new PendingCalls({}, 30);
    // As on an unref'd connection: the waiting calls keep the process alive (nothing else does here).
    calls.holdProcess(true);
    // Each outcome is awaited from the start: the timers may fire in any order on a loaded machine.
    const slow = assert.rejects(calls.add(1, call('Slow'), ReplyPick.FIRST, {}, undefined), (e: unknown) => e instanceof TimeoutError && /Slow/.test(e.message));
    const own = assert.rejects(calls.add(2, call('Own'), ReplyPick.FIRST, { timeoutMs: 10 }, undefined), (e: unknown) => e instanceof TimeoutError && /Own/.test(e.message));
    const none = calls.add(3, call('None'), ReplyPick.FIRST, { timeoutMs: Infinity }, undefined);
    const answered = calls.add(4, call('Answered'), ReplyPick.FIRST, {}, undefined);
    calls.answer(calls.get(4)!, reply(4));
    assert.equal(await answered, 4);
    await Promise.all([slow, own]);
    assert.equal(calls.size, 1, 'the call without a timeout still waits');
    calls.answer(calls.get(3)!, reply(3));
    assert.equal(await none, 3);
    calls.close();
  });
});
