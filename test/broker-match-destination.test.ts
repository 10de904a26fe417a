// `destination=` in a match rule, on fastbus and on dbus-daemon with the same
// config: it matches a message when the connection the message goes to owns
// the name in the rule (its unique name or a well-known name it is the
// primary owner of), whichever of its names the sender wrote; for monitors
// (BecomeMonitor) and for eavesdropping match rules alike.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType, type DecodedMessage } from '../src/wire/index.js';
import { startBus, type BusKind, type TestBus } from './fixtures/bus.js';
import { DBUS, raw, type Raw } from './fixtures/raw-client.js';

const CONFIG = `<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen>
  <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>`;

for (const kind of ['fastbus', 'dbus-daemon'] as BusKind[]) {
  describe(`destination= in match rules on ${kind}`, { timeout: 30000 }, () => {
    let bus: TestBus;
    let service: Raw;
    let other: Raw;
    let caller: Raw;
    before(async () => {
      bus = await startBus(kind, CONFIG);
      service = await raw(bus.address);
      other = await raw(bus.address);
      caller = await raw(bus.address);
      assert.deepEqual((await service.call({ ...DBUS, member: 'RequestName', signature: 'su', body: ['org.test.Dest', 0] })).body, [1]);
    });
    after(async () => {
      for (const c of [service, other, caller]) c?.stream.close();
      await bus?.stop();
    });

    /** Sends unicast signals from the caller: to the service's unique name, to its well-known name, to another client, then the two end markers. */
    function sendAll(): void {
      const signal = (destination: string, member: string): number =>
        caller.send({ type: MessageType.SIGNAL, destination, path: '/dest', interface: 'org.test.Dest', member });
      signal(service.name, 'ToUnique');
      signal('org.test.Dest', 'ToName');
      signal(other.name, 'ToOther');
      signal('org.test.Dest', 'EndByName');
      signal(service.name, 'EndByUnique');
    }

    /** The members an observer saw, up to the end marker it is sure to see (it sees the caller's messages in order). */
    async function seenUntil(observer: Raw, end: string): Promise<string[]> {
      const mine = (m: DecodedMessage): boolean => m.path === '/dest';
      const last = await observer.next((m) => mine(m) && m.member === end);
      // All come from the caller, whose serials grow.
      return observer.inbox.filter((m) => mine(m) && m.serial < last.serial).map((m) => m.member!);
    }

    it('matches for a monitor whichever name of the recipient the sender used', async () => {
      const byName = await raw(bus.address);
      const byUnique = await raw(bus.address);
      for (const [m, dest] of [[byName, 'org.test.Dest'], [byUnique, service.name]] as const) {
        const r = await m.call({ ...DBUS, interface: 'org.freedesktop.DBus.Monitoring', member: 'BecomeMonitor', signature: 'asu', body: [[`destination='${dest}'`], 0] });
        assert.equal(r.type, MessageType.METHOD_RETURN);
      }
      sendAll();
      assert.deepEqual(await seenUntil(byName, 'EndByName'), ['ToUnique', 'ToName']);
      assert.deepEqual(await seenUntil(byUnique, 'EndByUnique'), ['ToUnique', 'ToName', 'EndByName']);
      for (const c of [byName, byUnique]) c.stream.close();
    });

    it('matches for an eavesdropping rule whichever name of the recipient the sender used', async () => {
      const spy = await raw(bus.address);
      await spy.call({ ...DBUS, member: 'AddMatch', signature: 's', body: ["eavesdrop='true',destination='org.test.Dest'"] });
      sendAll();
      assert.deepEqual(await seenUntil(spy, 'EndByName'), ['ToUnique', 'ToName']);
      spy.stream.close();
    });
  });
}
