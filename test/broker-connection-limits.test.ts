// How many connections a bus takes and how long it waits for their Hello, on
// fastbus and on dbus-daemon with the same config: the Hello past
// max_completed_connections gets LimitsExceeded and may be said again once
// another connection left; at max_incomplete_connections a new client waits
// until one of those leaves; auth_timeout runs until Hello is answered.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType } from '../src/wire/index.js';
import { startBus, type BusKind, type TestBus } from './fixtures/bus.js';
import { DBUS, raw, type Raw } from './fixtures/raw-client.js';

const POLICY = '<policy context="default"><allow send_destination="*"/><allow receive_sender="*"/><allow own="*"/></policy>';
const config = (limits: Record<string, number>): string => `<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen>${POLICY}
  ${Object.entries(limits).map(([name, value]) => `<limit name="${name}">${value}</limit>`).join('')}</busconfig>`;

for (const kind of ['fastbus', 'dbus-daemon'] as BusKind[]) {
  describe(`connection limits on ${kind}`, { timeout: 60000 }, () => {
    let bus: TestBus | undefined;
    const clients: Raw[] = [];
    const connect = async (hello = true): Promise<Raw> => {
      const c = await raw(bus!.address, { hello });
      clients.push(c);
      return c;
    };
    const stop = async (): Promise<void> => {
      for (const c of clients.splice(0)) c.stream.close();
      await bus?.stop();
      bus = undefined;
    };
    after(stop);

    describe('max_completed_connections and max_incomplete_connections', () => {
      before(async () => {
        bus = await startBus(kind, config({ max_completed_connections: 3, max_incomplete_connections: 2 }));
      });
      after(stop);

      it('answers the Hello past max_completed_connections with LimitsExceeded, and the same connection gets a name once another left', async () => {
        const [watcher, leaving] = [await connect(), await connect(), await connect()];
        await watcher.call({ ...DBUS, member: 'AddMatch', signature: 's', body: ["type='signal',member='NameOwnerChanged'"] });
        const late = await connect(false);
        const refused = await late.call({ ...DBUS, member: 'Hello' });
        assert.equal(refused.type, MessageType.ERROR);
        assert.equal(refused.errorName, 'org.freedesktop.DBus.Error.LimitsExceeded');
        assert.equal(refused.body[0], 'The maximum number of active connections has been reached');
        assert.equal(late.isClosed(), false);
        leaving.stream.close();
        await watcher.next((m) => m.member === 'NameOwnerChanged' && m.body[0] === leaving.name && m.body[2] === '');
        const again = await late.call({ ...DBUS, member: 'Hello' });
        assert.equal(again.type, MessageType.METHOD_RETURN);
        assert.match(again.body[0] as string, /^:1\.\d+$/);
      });

      it('keeps a new client waiting while max_incomplete_connections have not said Hello, and takes it once one leaves', async () => {
        // The bus is full (three with names): the first client below was refused at Hello, and stays incomplete.
        const full = await connect(false);
        assert.equal((await full.call({ ...DBUS, member: 'Hello' })).errorName, 'org.freedesktop.DBus.Error.LimitsExceeded');
        const silent = await connect(false);
        let waiting: Raw | undefined;
        const waiter = raw(bus!.address, { hello: false }).then((c) => {
          clients.push(c);
          waiting = c;
          return c;
        });
        // Ten round trips of a connection with a name, after the waiter's connect() (a bus that took the
        // waiter would have answered its SASL lines meanwhile): the waiter is still not authenticated.
        const named = clients.find((c) => c.name !== '' && !c.isClosed())!;
        for (let i = 0; i < 10; i++) assert.equal((await named.call({ ...DBUS, member: 'GetId' })).type, MessageType.METHOD_RETURN);
        assert.equal(waiting, undefined, 'the third incomplete connection was authenticated');
        silent.stream.close();
        const admitted = await waiter;
        assert.equal((await admitted.call({ ...DBUS, member: 'Hello' })).errorName, 'org.freedesktop.DBus.Error.LimitsExceeded');
      });
    });

    describe('auth_timeout', () => {
      // Long enough that the clients below connect and say Hello well within it on a loaded machine.
      before(async () => {
        bus = await startBus(kind, config({ auth_timeout: 6000, max_completed_connections: 1 }));
      });
      after(stop);

      it('closes a client that authenticated and never said Hello, and one whose Hello was refused, once auth_timeout passed; not one with a name', async () => {
        const named = await connect();
        const silent = await connect(false);
        const refused = await connect(false);
        assert.equal((await refused.call({ ...DBUS, member: 'Hello' })).errorName, 'org.freedesktop.DBus.Error.LimitsExceeded');
        await Promise.all([silent.closed, refused.closed]);
        assert.equal((await named.call({ ...DBUS, member: 'GetId' })).type, MessageType.METHOD_RETURN);
        assert.equal(named.isClosed(), false);
      });
    });
  });
}
