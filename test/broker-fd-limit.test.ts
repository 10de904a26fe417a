// max_outgoing_unix_fds, on fastbus and on dbus-daemon with the same config and
// the same bare clients. Fds count only while they wait in the bus's own queue,
// so a receiver that stops reading first gets more large messages than the
// kernel socket buffer holds (capped by net.core.wmem_max); what follows stays
// queued. Past the limit a call is refused with LimitsExceeded on both buses; a
// reply or signal that cannot be queued drops the receiver on fastbus (dbus-daemon
// refuses the reply to its sender and drops the signal silently: docs/broker.md).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { MessageType, type Variant } from '../src/wire/index.js';
import { startBus, type BusKind, type TestBus } from './fixtures/bus.js';
import { DBUS, raw, type Raw } from './fixtures/raw-client.js';

const LIMIT = 4;
const MIB = 1024 * 1024;
// A unix socket's SO_SNDBUF is at most twice wmem_max, and a sender may pass it by one skb of up to half of it:
// 2 MiB more than three times wmem_max always stays queued in the bus.
const FILL_MESSAGES = Math.ceil((3 * Number(readFileSync('/proc/sys/net/core/wmem_max', 'utf8')) + 2 * MIB) / MIB);
const CONFIG = `<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen>
  <policy context="default"><allow send_destination="*"/><allow receive_sender="*"/><allow own="*"/></policy>
  <limit name="max_outgoing_unix_fds">${LIMIT}</limit>
  <limit name="max_outgoing_bytes">${(FILL_MESSAGES + 8) * MIB}</limit>
  <limit name="max_message_size">${4 * MIB}</limit>
</busconfig>`;
const FILLER = new Uint8Array(MIB);
const STATS = { ...DBUS, interface: 'org.freedesktop.DBus.Debug.Stats', member: 'GetConnectionStats', signature: 's' };

for (const kind of ['fastbus', 'dbus-daemon'] as BusKind[]) {
  describe(`max_outgoing_unix_fds on ${kind}`, { timeout: 30000 }, () => {
    let bus: TestBus;
    const clients: Raw[] = [];
    let watcher: Raw;
    let sender: Raw;
    let bystander: Raw;
    let fd: number;
    const connect = async (): Promise<Raw> => {
      const c = await raw(bus.address);
      clients.push(c);
      return c;
    };
    /** The bus's counters for `c` (asked by the sender: its earlier messages are routed by then). */
    const stats = async (c: Raw): Promise<Record<string, unknown>> => {
      const r = await sender.call({ ...STATS, body: [c.name] });
      assert.equal(r.type, MessageType.METHOD_RETURN, r.errorName);
      return Object.fromEntries([...(r.body[0] as Map<string, Variant>)].map(([k, v]) => [k, v.value]));
    };
    /** Pauses `c` and sends it more large signals than its socket holds, so the bus queues what follows. */
    const stopReading = async (c: Raw): Promise<void> => {
      c.stream.pause();
      for (let i = 0; i < FILL_MESSAGES; i++) {
        sender.send({ type: MessageType.SIGNAL, destination: c.name, path: '/f', interface: 'org.test.F', member: 'Fill', signature: 'ay', body: [FILLER] });
      }
      const queued = await stats(c);
      assert.ok((queued.OutgoingBytes as number) >= MIB, `the bus queues what the socket cannot hold: ${JSON.stringify(queued)}`);
    };
    /** Sends `count` calls with one fd each to `c`; resolves with the error names, '' for each call queued. */
    const callsWithFd = async (c: Raw, count: number): Promise<string[]> => {
      const serials = Array.from({ length: count }, () => sender.send({ destination: c.name, path: '/p', interface: 'org.test.F', member: 'TakeFd', signature: 'h', body: [0] }, [fd]));
      await stats(c);
      return serials.map((s) => {
        const i = sender.inbox.findIndex((m) => m.replySerial === s);
        return i < 0 ? '' : sender.inbox.splice(i, 1)[0]!.errorName ?? '?';
      });
    };
    /** Resumes `c` and waits until it has read everything queued for it: the calls with an fd each, then a marker. */
    const drain = async (c: Raw): Promise<void> => {
      c.stream.resume();
      for (let i = 0; i <= LIMIT; i++) {
        const call = await c.next((m) => m.member === 'TakeFd');
        assert.equal(call.fds?.length, 1);
        closeSync(call.fds[0]!);
      }
      sender.send({ type: MessageType.SIGNAL, destination: c.name, path: '/f', interface: 'org.test.F', member: 'End' });
      await c.next((m) => m.member === 'End');
    };
    /** Waits for the bus to report `c` gone. */
    const gone = (c: Raw) => watcher.next((m) => m.member === 'NameOwnerChanged' && m.body[0] === c.name && m.body[2] === '');
    /** The bystander still gets a call with an fd from the sender, and the sender its answer. */
    const assertUnharmed = async (): Promise<void> => {
      const s = sender.send({ destination: bystander.name, path: '/p', interface: 'org.test.F', member: 'TakeFd', signature: 'h', body: [0] }, [fd]);
      const call = await bystander.next((m) => m.member === 'TakeFd' && m.sender === sender.name);
      assert.equal(call.fds?.length, 1);
      bystander.send({ type: MessageType.METHOD_RETURN, destination: sender.name, replySerial: call.serial });
      assert.equal((await sender.next((m) => m.replySerial === s)).type, MessageType.METHOD_RETURN);
      for (const f of call.fds!) closeSync(f);
    };

    before(async () => {
      bus = await startBus(kind, CONFIG);
      fd = openSync('/dev/null', 'r');
      watcher = await connect();
      await watcher.call({ ...DBUS, member: 'AddMatch', signature: 's', body: ["type='signal',member='NameOwnerChanged'"] });
      sender = await connect();
      bystander = await connect();
      await bystander.call({ ...DBUS, member: 'AddMatch', signature: 's', body: ["type='signal',member='WithFd'"] });
    });
    after(async () => {
      for (const c of clients) c.stream.close();
      closeSync(fd);
      await bus?.stop();
    });

    it('queues calls with fds until more than max_outgoing_unix_fds wait, then refuses any call with LimitsExceeded', async () => {
      const receiver = await connect();
      await stopReading(receiver);
      // dbus-daemon refuses a message once the queue already holds more fds than the limit.
      assert.deepEqual(await callsWithFd(receiver, LIMIT + 2), [...Array<string>(LIMIT + 1).fill(''), 'org.freedesktop.DBus.Error.LimitsExceeded']);
      const queued = await stats(receiver);
      assert.deepEqual([queued.OutgoingFDs, queued.PeakOutgoingFDs], [LIMIT + 1, LIMIT + 1]);
      const plain = await sender.call({ destination: receiver.name, path: '/p', interface: 'org.test.F', member: 'NoFd' });
      assert.equal(plain.errorName, 'org.freedesktop.DBus.Error.LimitsExceeded', 'a call without fds is refused too');
      assert.match(plain.body[0] as string, /full message queue/);
      await assertUnharmed();
      await drain(receiver);
      assert.equal(receiver.inbox.some((m) => m.member === 'NoFd'), false);
      // Once read, the queue takes calls with fds again.
      assert.deepEqual(await callsWithFd(receiver, 1), ['']);
      const again = await receiver.next((m) => m.member === 'TakeFd');
      assert.equal(again.fds?.length, 1);
      closeSync(again.fds[0]!);
      receiver.stream.close();
      await gone(receiver);
    });

    it('does not queue a reply with an fd past max_outgoing_unix_fds', async () => {
      const receiver = await connect();
      const callSerial = receiver.send({ destination: sender.name, path: '/p', interface: 'org.test.F', member: 'GiveFd' });
      const call = await sender.next((m) => m.member === 'GiveFd');
      await stopReading(receiver);
      assert.deepEqual(await callsWithFd(receiver, LIMIT + 1), Array<string>(LIMIT + 1).fill(''));
      const replySerial = sender.send({ type: MessageType.METHOD_RETURN, destination: receiver.name, replySerial: call.serial, signature: 'h', body: [0] }, [fd]);
      if (kind === 'fastbus') {
        // Deliberate: the caller would otherwise wait for ever. The receiver is dropped, with one log line.
        await gone(receiver);
        assert.ok(bus.log.some((l) => l.includes(receiver.name) && l.includes('max_outgoing_unix_fds')), bus.log.join('\n'));
        await stats(bystander);
        assert.equal(sender.inbox.some((m) => m.replySerial === replySerial), false, 'the replier is not answered');
      } else {
        const refused = await sender.next((m) => m.replySerial === replySerial);
        assert.equal(refused.errorName, 'org.freedesktop.DBus.Error.LimitsExceeded');
        await drain(receiver);
        assert.equal(receiver.inbox.some((m) => m.replySerial === callSerial), false, 'the caller never gets the reply');
        receiver.stream.close();
        await gone(receiver);
      }
      await assertUnharmed();
    });

    it('does not queue a subscribed signal with an fd past max_outgoing_unix_fds, and other subscribers get it', async () => {
      const receiver = await connect();
      await receiver.call({ ...DBUS, member: 'AddMatch', signature: 's', body: ["type='signal',member='WithFd'"] });
      await stopReading(receiver);
      assert.deepEqual(await callsWithFd(receiver, LIMIT + 1), Array<string>(LIMIT + 1).fill(''));
      const signalSerial = sender.send({ type: MessageType.SIGNAL, path: '/p', interface: 'org.test.F', member: 'WithFd', signature: 'h', body: [0] }, [fd]);
      const signal = await bystander.next((m) => m.member === 'WithFd');
      assert.equal(signal.fds?.length, 1);
      for (const f of signal.fds!) closeSync(f);
      if (kind === 'fastbus') {
        // Deliberate: never a silent drop. The receiver is dropped.
        await gone(receiver);
      } else {
        await drain(receiver);
        assert.equal(receiver.inbox.some((m) => m.member === 'WithFd'), false, 'dbus-daemon drops the signal for this receiver only');
        receiver.stream.close();
        await gone(receiver);
      }
      await assertUnharmed();
      assert.equal(sender.inbox.some((m) => m.replySerial === signalSerial), false, 'the emitter is not told');
    });
  });
}
