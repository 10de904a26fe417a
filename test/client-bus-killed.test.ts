// The bus killed under a client: a real `fastbus daemon` is SIGKILLed while a
// fastbus client has calls in flight (to a service that has them and has not
// answered, and to the bus itself), a signal iterator open and a call
// with a timeout. Every pending call ends with DisconnectedError, the client
// emits 'close', its iterator ends, a call made afterwards fails at once, and
// nothing is left pending.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, DisconnectedError, type Connection } from '../src/client/index.js';
import { startBus, type TestBus } from './fixtures/bus.js';
import { raw, type Raw } from './fixtures/raw-client.js';

describe('a fastbus daemon SIGKILLed under a client', { timeout: 60000 }, () => {
  let bus: TestBus;
  let client: Connection;
  let service: Raw;
  before(async () => {
    bus = await startBus('fastbus');
    service = await raw(bus.address);
    client = await connect(bus.address);
  });
  after(async () => {
    client?.close();
    service?.stream.close();
    await bus?.stop();
  });

  it('ends every pending call with DisconnectedError, emits close, ends its signal iterator, and leaves nothing pending', async () => {
    const CALLS = 20;
    const calls = Array.from({ length: CALLS }, (_, i) => client.call({ destination: service.name, path: '/s', interface: 'org.test.S', member: 'Hold', signature: 'u', body: [i] }));
    const timed = client.call({ destination: service.name, path: '/s', interface: 'org.test.S', member: 'Hold', signature: 'u', body: [CALLS] }, { timeoutMs: 600_000 });
    const signals = await client.signals({ interface: 'org.test.S', member: 'Never' });
    const iterated = (async () => {
      const seen: unknown[] = [];
      for await (const s of signals) seen.push(s);
      return seen;
    })();
    // The service has every call (the bus routed them all) and answers none.
    for (let i = 0; i <= CALLS; i++) await service.next((m) => m.member === 'Hold' && m.body[0] === i);
    // And one call waits on the bus itself, sent after them (the bus has not answered it yet, or has).
    const toBus = client.callMethod({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'ListNames' })
      .then(() => 'answered', (e: unknown) => e);
    const closed = new Promise<Error | undefined>((resolve) => client.once('close', resolve));
    process.kill(bus.pid, 'SIGKILL');
    await closed;
    const outcomes = await Promise.allSettled([...calls, timed]);
    for (const o of outcomes) {
      assert.equal(o.status, 'rejected');
      const e = (o as PromiseRejectedResult).reason as unknown;
      assert.ok(e instanceof DisconnectedError, String(e));
      assert.match(e.message, /call .* org\.test\.S\.Hold: connection (closed by the bus|lost: .+)/);
    }
    const last = await toBus;
    assert.ok(last === 'answered' || last instanceof DisconnectedError, String(last));
    assert.deepEqual(await iterated, []);
    assert.equal(client.pendingCalls, 0);
    await assert.rejects(client.call({ destination: service.name, path: '/s', interface: 'org.test.S', member: 'After' }), DisconnectedError);
    await service.closed;
  });
});
