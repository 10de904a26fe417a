// Misbehaving and unlucky peers on a fastbus bus: malformed and oversize
// messages, unsolicited and duplicate replies, callees that vanish, slow
// readers, peers dying mid-message, limits. Each time the bus drops only the
// peer at fault (one log line) and every other client goes on unharmed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startBroker, type RunningBroker } from '../src/broker/index.js';
import * as native from '../src/native/native.js';
import { connectBus } from '../src/transport/index.js';
import { encodeMessage, MessageFlags, MessageType } from '../src/wire/index.js';
import { DBUS, raw, type Raw } from './fixtures/raw-client.js';

describe('faults on a fastbus bus', { timeout: 30000 }, () => {
  let bus: RunningBroker;
  const log: string[] = [];
  let dir: string;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'fastbus-faults-'));
    bus = await startBroker({
      address: `unix:path=${path.join(dir, 'bus')}`,
      limits: { maxMessageBytes: 4096, maxQueuedBytes: 1024 * 1024, maxPendingReplies: 2 },
      log: (line) => log.push(line),
    });
  });
  after(() => {
    bus.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The bystander: a client that must keep working whatever the others do. */
  async function assertUnharmed(c: Raw): Promise<void> {
    const id = await c.call({ ...DBUS, member: 'GetId' });
    assert.equal(id.type, MessageType.METHOD_RETURN);
    assert.equal(id.body[0], bus.broker.guid);
  }

  it('drops a client whose first message is not Hello', async () => {
    const a = await raw(bus.address, { hello: false });
    a.send({ ...DBUS, member: 'GetId' });
    await a.closed;
    assert.match(log.at(-1)!, /NO_HELLO/);
  });

  it('answers a second Hello with an error and drops a client that uses the reserved Local path', async () => {
    const a = await raw(bus.address);
    const again = await a.call({ ...DBUS, member: 'Hello' });
    assert.equal(again.errorName, 'org.freedesktop.DBus.Error.Failed');
    a.send({ type: MessageType.SIGNAL, path: '/org/freedesktop/DBus/Local', interface: 'org.test.X', member: 'Disconnected' });
    await a.closed;
    assert.match(log.at(-1)!, /RESERVED_LOCAL/);
  });

  it('drops the sender of a malformed message with one log line, and nobody else', async () => {
    const bystander = await raw(bus.address);
    const a = await raw(bus.address);
    const bytes = encodeMessage({ type: MessageType.METHOD_CALL, flags: 0, serial: 9, ...DBUS, member: 'GetId', body: [] });
    // The PATH field's signature 'o' becomes 'x': a malformed header.
    const at = bytes.indexOf(0x6f, 16);
    bytes[at] = 0x78;
    const before = log.length;
    a.stream.send(bytes);
    await a.closed;
    assert.equal(log.length, before + 1);
    assert.ok(log.at(-1)!.includes(a.name), log.at(-1));
    await assertUnharmed(bystander);
    bystander.stream.close();
  });

  it('accepts a message of exactly max_message_size and drops the sender of one byte more', async () => {
    const a = await raw(bus.address);
    const b = await raw(bus.address);
    const make = (n: number) => encodeMessage({ type: MessageType.METHOD_CALL, flags: MessageFlags.NO_REPLY_EXPECTED, serial: 1, destination: b.name, path: '/x', member: 'Big', signature: 'ay', body: [new Uint8Array(n)] });
    const n = 1000 + 4096 - make(1000).length;
    assert.equal(make(n).length, 4096);
    a.send({ flags: MessageFlags.NO_REPLY_EXPECTED, destination: b.name, path: '/x', member: 'Big', signature: 'ay', body: [new Uint8Array(n)] });
    const got = await b.next((m) => m.member === 'Big');
    assert.equal((got.body[0] as Uint8Array).length, n);
    a.send({ flags: MessageFlags.NO_REPLY_EXPECTED, destination: b.name, path: '/x', member: 'Big', signature: 'ay', body: [new Uint8Array(n + 1)] });
    await a.closed;
    assert.match(log.at(-1)!, /MESSAGE_TOO_LONG/);
    await assertUnharmed(b);
    b.stream.close();
  });

  it('drops a reply nobody asked for, and delivers a requested reply only once', async () => {
    const a = await raw(bus.address);
    const b = await raw(bus.address);
    a.send({ type: MessageType.METHOD_RETURN, destination: b.name, replySerial: 12345 });
    a.send({ type: MessageType.SIGNAL, destination: b.name, path: '/m', interface: 'org.test.M', member: 'Marker' });
    await b.next((m) => m.member === 'Marker');
    assert.equal(b.inbox.filter((m) => m.type === MessageType.METHOD_RETURN).length, 0);
    assert.ok(!a.isClosed());
    const s = a.send({ destination: b.name, path: '/p', interface: 'org.test.P', member: 'Ask' });
    const call = await b.next((m) => m.member === 'Ask');
    b.send({ type: MessageType.METHOD_RETURN, destination: a.name, replySerial: call.serial, signature: 's', body: ['first'] });
    b.send({ type: MessageType.METHOD_RETURN, destination: a.name, replySerial: call.serial, signature: 's', body: ['second'] });
    b.send({ type: MessageType.SIGNAL, destination: a.name, path: '/m', interface: 'org.test.M', member: 'Marker' });
    await a.next((m) => m.member === 'Marker');
    const replies = a.inbox.filter((m) => m.replySerial === s);
    assert.deepEqual(replies.map((m) => m.body[0]), ['first']);
    assert.equal(replies[0].sender, b.name);
    a.stream.close();
    b.stream.close();
  });

  it('answers NoReply to callers of a callee that disconnects, ServiceUnknown for a missing name', async () => {
    const a = await raw(bus.address);
    const b = await raw(bus.address);
    const s = a.send({ destination: b.name, path: '/p', member: 'NeverAnswered' });
    await b.next((m) => m.member === 'NeverAnswered');
    b.stream.close();
    const err = await a.next((m) => m.replySerial === s);
    assert.equal(err.errorName, 'org.freedesktop.DBus.Error.NoReply');
    const missing = await a.call({ destination: 'org.fastbus.Nobody', path: '/', member: 'X' });
    assert.equal(missing.errorName, 'org.freedesktop.DBus.Error.ServiceUnknown');
    a.stream.close();
  });

  it('refuses calls beyond max_replies_per_connection with LimitsExceeded', async () => {
    const a = await raw(bus.address);
    const b = await raw(bus.address);
    const s1 = a.send({ destination: b.name, path: '/p', member: 'Wait' });
    const s2 = a.send({ destination: b.name, path: '/p', member: 'Wait' });
    const third = await a.call({ destination: b.name, path: '/p', member: 'Wait' });
    assert.equal(third.errorName, 'org.freedesktop.DBus.Error.LimitsExceeded');
    // A marker sent after the refused call: once b has it, b has everything a sent before.
    a.send({ type: MessageType.SIGNAL, destination: b.name, path: '/m', interface: 'org.test.M', member: 'Marker' });
    await b.next((m) => m.member === 'Marker');
    assert.deepEqual(b.inbox.filter((m) => m.member === 'Wait').map((m) => m.serial), [s1, s2], 'the two calls within the limit arrived, the refused one did not');
    a.stream.close();
    b.stream.close();
  });

  it('counts a call whose serial is used again while it is pending once: one reply ends it', async () => {
    const a = await raw(bus.address);
    const b = await raw(bus.address);
    const stats = async (): Promise<number> => {
      const r = await a.call({ ...DBUS, interface: 'org.freedesktop.DBus.Debug.Stats', member: 'GetConnectionStats', signature: 's', body: [a.name] });
      return (r.body[0] as Map<string, { value: number }>).get('PendingReplies')!.value;
    };
    // The same serial twice (a client's bug): b gets both calls, and owes one reply.
    const call = encodeMessage({ type: MessageType.METHOD_CALL, flags: 0, serial: 1000, destination: b.name, path: '/p', member: 'Twice', body: [] });
    a.stream.send(call);
    a.stream.send(call);
    await b.next((m) => m.member === 'Twice');
    await b.next((m) => m.member === 'Twice');
    assert.equal(await stats(), 1);
    b.send({ type: MessageType.METHOD_RETURN, destination: a.name, replySerial: 1000 });
    await a.next((m) => m.replySerial === 1000);
    assert.equal(await stats(), 0);
    // Nothing left over counts against max_replies_per_connection (2): two calls pass.
    const s1 = a.send({ destination: b.name, path: '/p', member: 'Wait' });
    const s2 = a.send({ destination: b.name, path: '/p', member: 'Wait' });
    assert.deepEqual([(await b.next((m) => m.member === 'Wait')).serial, (await b.next((m) => m.member === 'Wait')).serial], [s1, s2]);
    assert.equal(await stats(), 2);
    assert.equal(a.inbox.filter((m) => m.type === MessageType.ERROR).length, 0);
    a.stream.close();
    b.stream.close();
  });

  it('drops a subscriber too slow to read its signals, and the emitter and other subscribers go on', async () => {
    const emitter = await raw(bus.address);
    const reader = await raw(bus.address);
    const slow = await raw(bus.address);
    const rule = "type='signal',interface='org.test.Flood'";
    for (const c of [reader, slow]) assert.equal((await c.call({ ...DBUS, member: 'AddMatch', signature: 's', body: [rule] })).type, MessageType.METHOD_RETURN);
    slow.stream.pause();
    // Rounds of 480 KB, each waited for by the reader, until the bus gives up on the
    // one that never reads (its kernel buffer, then its 1 MiB queue, fill up).
    const payload = new Uint8Array(3000);
    const dropped = () => log.some((l) => l.includes(slow.name) && l.includes('too slow'));
    let i = 0;
    for (let round = 0; round < 200 && !dropped(); round++) {
      for (let k = 0; k < 160; k++, i++) emitter.send({ type: MessageType.SIGNAL, path: '/f', interface: 'org.test.Flood', member: 'Data', signature: 'uay', body: [i, payload] });
      const last = i - 1;
      await reader.next((m) => m.member === 'Data' && m.body[0] === last);
      reader.inbox.length = 0;
    }
    assert.ok(dropped(), 'the slow subscriber was dropped');
    slow.stream.resume();
    await slow.closed;
    await assertUnharmed(emitter);
    emitter.stream.close();
    reader.stream.close();
  });

  it('forgets a peer that dies in the middle of a message, and tells the others it left', async () => {
    const watcher = await raw(bus.address);
    await watcher.call({ ...DBUS, member: 'AddMatch', signature: 's', body: ["type='signal',member='NameOwnerChanged'"] });
    const a = await raw(bus.address);
    const bytes = encodeMessage({ type: MessageType.METHOD_CALL, flags: 0, serial: 7, ...DBUS, member: 'ListNames', body: [] });
    a.stream.send(bytes.subarray(0, 20));
    await new Promise<void>((resolve) => { a.stream.onDrain = resolve; });
    a.stream.close();
    const gone = await watcher.next((m) => m.member === 'NameOwnerChanged' && m.body[0] === a.name && m.body[2] === '');
    assert.equal(gone.body[1], a.name);
    await assertUnharmed(watcher);
    watcher.stream.close();
  });

  it('delivers everything a peer sent before it closed with replies unread', async () => {
    const watcher = await raw(bus.address);
    await watcher.call({ ...DBUS, member: 'AddMatch', signature: 's', body: ["type='signal',interface='org.test.Last'"] });
    const { stream } = await connectBus(bus.address);
    stream.resume();
    const hello = { type: MessageType.METHOD_CALL, flags: 0, serial: 1, ...DBUS, member: 'Hello', body: [] };
    stream.send(encodeMessage(hello));
    for (let i = 0; i < 200; i++) {
      stream.send(encodeMessage({ type: MessageType.SIGNAL, flags: 0, serial: 2 + i, path: '/l', interface: 'org.test.Last', member: 'Words', signature: 'u', body: [i] }));
    }
    await new Promise<void>((resolve) => { stream.onDrain = resolve; });
    stream.close();
    for (let i = 0; i < 200; i++) await watcher.next((m) => m.member === 'Words' && m.body[0] === i);
    await assertUnharmed(watcher);
    watcher.stream.close();
  });

  it('refuses unix fds to a peer that did not negotiate them with NotSupported, and passes them to one that did', async () => {
    const a = await raw(bus.address);
    const noFds = await raw(bus.address, { unixFd: false });
    const withFds = await raw(bus.address);
    const efd = native.check(native.efdOpen(0), 'eventfd');
    const s1 = a.send({ destination: noFds.name, path: '/p', member: 'TakeFd', signature: 'h', body: [0] }, [efd]);
    const refused = await a.next((m) => m.replySerial === s1);
    assert.equal(refused.errorName, 'org.freedesktop.DBus.Error.NotSupported');
    a.send({ destination: withFds.name, path: '/p', member: 'TakeFd', signature: 'h', body: [0], flags: MessageFlags.NO_REPLY_EXPECTED }, [efd]);
    const got = await withFds.next((m) => m.member === 'TakeFd');
    assert.equal(got.fds?.length, 1);
    native.efdSignal(efd, 3);
    assert.equal(native.efdDrain(got.fds![0]), 3);
    for (const fd of [efd, got.fds![0]]) native.fdClose(fd);
    for (const c of [a, noFds, withFds]) c.stream.close();
  });
});
