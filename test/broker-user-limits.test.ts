// Per-user limits on a fastbus bus (fastbus's own `<limit>`s, docs/broker.md):
// match rules, names and queued bytes are charged to the user of the
// connection, so that several connections of one user share one allowance;
// each is tested at the limit and one past it, and what was charged is
// given back when it goes (rules removed, names released, queues written).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startBroker, type RunningBroker } from '../src/broker/index.js';
import { MessageType } from '../src/wire/index.js';
import { DBUS, raw, type Raw } from './fixtures/raw-client.js';

const KIB = 1024;
const RULES = 3;
const NAMES = 2;
const SHARE = 256 * KIB;
const LIMITS_EXCEEDED = 'org.freedesktop.DBus.Error.LimitsExceeded';
const uid = process.getuid?.() ?? 0;

describe('per-user limits on a fastbus bus', { timeout: 60000 }, () => {
  let dir: string;
  let bus: RunningBroker;
  const open: Raw[] = [];

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'fastbus-user-limits-'));
    bus = await startBroker({
      address: `unix:path=${path.join(dir, 'bus')}`,
      limits: { maxMatchRulesPerUser: RULES, maxNamesPerUser: NAMES, maxQueuedBytesPerUser: SHARE, maxQueuedBytes: 4096 * KIB },
      log: () => undefined,
    });
  });
  after(() => {
    for (const c of open) c.stream.close();
    bus.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function client(): Promise<Raw> {
    const c = await raw(bus.address);
    open.push(c);
    return c;
  }

  async function closeAll(): Promise<void> {
    // Nothing of this user is left in the bus once its connections are gone: the bus gives a connection's
    // account back as its NameOwnerChanged leaves, so a monitor (whose rules are charged to nobody) waits for each.
    const probe = await raw(bus.address);
    const r = await probe.call({ ...DBUS, interface: 'org.freedesktop.DBus.Monitoring', member: 'BecomeMonitor', signature: 'asu',
      body: [["type='signal',member='NameOwnerChanged'"], 0] });
    assert.equal(r.type, MessageType.METHOD_RETURN);
    // (A connection the bus already let go of announced it before the probe listened: it is not waited for.)
    const gone = open.filter((c) => bus.broker.uniques.has(c.name))
      .map((c) => probe.next((m) => m.member === 'NameOwnerChanged' && m.body[0] === c.name && m.body[2] === ''));
    for (const c of open.splice(0)) {
      c.stream.close();
      await c.closed;
    }
    await Promise.all(gone);
    const a = bus.broker.accounts.get(uid)!;
    assert.deepEqual([a.connections, a.names, a.matchRules, a.queuedBytes, a.queuedFds], [1, 0, 0, 0, 0]);
    probe.stream.close();
    await probe.closed;
  }

  /** Closes `c` and waits until the bus has let it go: its NameOwnerChanged, seen by a monitor (whose rules are charged to nobody). */
  async function leave(c: Raw): Promise<void> {
    const probe = await raw(bus.address);
    const r = await probe.call({ ...DBUS, interface: 'org.freedesktop.DBus.Monitoring', member: 'BecomeMonitor', signature: 'asu',
      body: [[`type='signal',member='NameOwnerChanged',arg0='${c.name}'`], 0] });
    assert.equal(r.type, MessageType.METHOD_RETURN);
    const gone = probe.next((m) => m.member === 'NameOwnerChanged' && m.body[0] === c.name && m.body[2] === '');
    open.splice(open.indexOf(c), 1);
    c.stream.close();
    await gone;
    probe.stream.close();
    await probe.closed;
  }

  const addMatch = (c: Raw, i: number) => c.call({ ...DBUS, member: 'AddMatch', signature: 's', body: [`type='signal',member='M${i}'`] });
  const removeMatch = (c: Raw, i: number) => c.call({ ...DBUS, member: 'RemoveMatch', signature: 's', body: [`type='signal',member='M${i}'`] });
  const requestName = (c: Raw, name: string) => c.call({ ...DBUS, member: 'RequestName', signature: 'su', body: [name, 4] });

  it('counts match rules of all the connections of a user against max_match_rules_per_user', async () => {
    const a = await client();
    const b = await client();
    for (const [c, i] of [[a, 1], [a, 2], [b, 3]] as const) assert.equal((await addMatch(c, i)).type, MessageType.METHOD_RETURN);
    const past = await addMatch(b, 4);
    assert.equal(past.errorName, LIMITS_EXCEEDED);
    assert.match(past.body[0] as string, /max_match_rules_per_user=3/);
    assert.equal((await removeMatch(a, 1)).type, MessageType.METHOD_RETURN);
    assert.equal((await addMatch(b, 4)).type, MessageType.METHOD_RETURN);
    // A connection that leaves gives its rules back (by the time the bus says it left: b's next call may come first).
    await leave(a);
    assert.equal((await addMatch(b, 5)).type, MessageType.METHOD_RETURN);
    await closeAll();
  });

  it('counts names owned or queued for by all the connections of a user against max_names_per_user', async () => {
    const a = await client();
    const b = await client();
    assert.deepEqual((await requestName(a, 'org.fastbus.test.N1')).body, [1]);
    assert.deepEqual((await requestName(b, 'org.fastbus.test.N2')).body, [1]);
    const past = await requestName(b, 'org.fastbus.test.N3');
    assert.equal(past.errorName, LIMITS_EXCEEDED);
    assert.match(past.body[0] as string, /max_names_per_user=2/);
    // Asking again for a name held is no new name.
    assert.deepEqual((await requestName(b, 'org.fastbus.test.N2')).body, [4]);
    assert.deepEqual((await a.call({ ...DBUS, member: 'ReleaseName', signature: 's', body: ['org.fastbus.test.N1'] })).body, [1]);
    assert.deepEqual((await requestName(b, 'org.fastbus.test.N3')).body, [1]);
    await closeAll();
  });

  it('refuses calls to a receiver that holds what passes max_outgoing_bytes_per_user of a user, serves its other receivers, and takes calls again once written', async () => {
    const sink = await client();
    const caller = await client();
    sink.stream.pause();
    const take = { destination: sink.name, path: '/sink', interface: 'org.fastbus.test.Sink', member: 'Take', signature: 's', body: ['c'.repeat(64 * KIB)] };
    /** Sends one call to the sink; its refusal, if any (a Ping after it: once answered, a refusal would be in). */
    const send = async (): Promise<{ serial: number; refusal: string | undefined }> => {
      const serial = caller.send(take);
      await caller.call({ ...DBUS, interface: 'org.freedesktop.DBus.Peer', member: 'Ping' });
      const i = caller.inbox.findIndex((m) => m.replySerial === serial);
      return { serial, refusal: i < 0 ? undefined : (caller.inbox.splice(i, 1)[0].body[0] as string) };
    };
    // Calls the sink does not read: its socket's buffer fills, then the bus's queue, charged to the caller's user.
    const queued: number[] = [];
    let refusal: string | undefined;
    for (let i = 0; i < 2000 && refusal === undefined; i++) {
      const r = await send();
      if (r.refusal === undefined) queued.push(r.serial);
      refusal = r.refusal;
    }
    assert.ok(refusal !== undefined, 'a call was refused');
    assert.match(refusal, /UID \d+ waiting in the bus have reached its share: \d+ bytes \(max_outgoing_bytes_per_user=262144\)/);
    const account = bus.broker.accounts.get(uid)!;
    // Refused as it would pass the share.
    assert.ok(account.queuedBytes <= SHARE && account.queuedBytes + 64 * KIB > SHARE, `${account.queuedBytes} bytes charged`);
    assert.notEqual((await send()).refusal, undefined, 'the next call is refused too');
    // Only the queue that does not move is refused: another connection of the same user, which reads, is still served.
    const other = await client();
    caller.send({ destination: other.name, path: '/other', interface: 'org.fastbus.test.Other', member: 'Hi', flags: 1 });
    await other.next((m) => m.member === 'Hi');
    // The sink reads again: once its queue is written the charge is given back and calls pass again.
    sink.stream.resume();
    for (const serial of queued) await sink.next((m) => m.member === 'Take' && m.serial === serial);
    assert.equal(account.queuedBytes, 0);
    assert.equal((await send()).refusal, undefined);
    await closeAll();
  });
});

describe('max_outgoing_unix_fds_per_user on a fastbus bus', { timeout: 60000 }, () => {
  const FDS = 4;
  const MIB = 1024 * KIB;
  // As in broker-fd-limit.test.ts: more 1 MiB messages than a paused receiver's socket holds, so what follows waits in the bus.
  const FILL_MESSAGES = Math.ceil((3 * Number(readFileSync('/proc/sys/net/core/wmem_max', 'utf8')) + 2 * MIB) / MIB);
  let dir: string;
  let bus: RunningBroker;
  let fd: number;
  const open: Raw[] = [];
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'fastbus-user-fds-'));
    fd = openSync('/dev/null', 'r');
    bus = await startBroker({
      address: `unix:path=${path.join(dir, 'bus')}`,
      limits: { maxQueuedFdsPerUser: FDS, maxQueuedBytes: (FILL_MESSAGES + 8) * MIB, maxMessageBytes: 4 * MIB },
      log: () => undefined,
    });
  });
  after(() => {
    for (const c of open) c.stream.close();
    closeSync(fd);
    bus.close();
    rmSync(dir, { recursive: true, force: true });
  });
  async function client(): Promise<Raw> {
    const c = await raw(bus.address);
    open.push(c);
    return c;
  }

  it('queues calls with fds of a user until more than max_outgoing_unix_fds_per_user wait, refuses the next with LimitsExceeded, serves a receiver that reads, and takes them again once read', async () => {
    const sink = await client();
    const caller = await client();
    const reader = await client();
    const ping = () => caller.call({ ...DBUS, interface: 'org.freedesktop.DBus.Peer', member: 'Ping' });
    sink.stream.pause();
    for (let i = 0; i < FILL_MESSAGES; i++) {
      caller.send({ type: MessageType.SIGNAL, destination: sink.name, path: '/f', interface: 'org.fastbus.test.F', member: 'Fill', signature: 'ay', body: [new Uint8Array(MIB)] });
    }
    /** Sends `count` calls with one fd each to `to`; the error name of each ('' for a call queued), once a Ping after them is answered. */
    const callsWithFd = async (to: Raw, count: number): Promise<string[]> => {
      const serials = Array.from({ length: count }, () => caller.send({ destination: to.name, path: '/f', interface: 'org.fastbus.test.F', member: 'TakeFd', signature: 'h', body: [0] }, [fd]));
      await ping();
      return serials.map((s) => {
        const i = caller.inbox.findIndex((m) => m.replySerial === s);
        return i < 0 ? '' : (caller.inbox.splice(i, 1)[0].errorName ?? '?');
      });
    };
    const account = bus.broker.accounts.get(uid)!;
    assert.equal(account.queuedFds, 0);
    // At the share, and (as dbus-daemon counts a connection's fds) one past it: queued. The next: refused.
    assert.deepEqual(await callsWithFd(sink, FDS + 2), [...Array<string>(FDS + 1).fill(''), LIMITS_EXCEEDED]);
    assert.equal(account.queuedFds, FDS + 1);
    const refused = caller.send({ destination: sink.name, path: '/f', interface: 'org.fastbus.test.F', member: 'TakeFd', signature: 'h', body: [0] }, [fd]);
    const refusal = await caller.next((m) => m.replySerial === refused);
    assert.match(refusal.body[0] as string, /UID \d+ waiting in the bus have reached its share: .* 5 fds \(max_outgoing_unix_fds_per_user=4\)/);
    // Another receiver of the same user, which reads, still gets its call with an fd.
    assert.deepEqual(await callsWithFd(reader, 1), ['']);
    const got = await reader.next((m) => m.member === 'TakeFd');
    assert.equal(got.fds?.length, 1);
    closeSync(got.fds![0]);
    // The sink reads: once its queue is written the fds are given back, and calls with fds pass again.
    sink.stream.resume();
    for (let i = 0; i <= FDS; i++) {
      const call = await sink.next((m) => m.member === 'TakeFd');
      for (const f of call.fds ?? []) closeSync(f);
    }
    await ping();
    assert.equal(account.queuedFds, 0);
    assert.deepEqual(await callsWithFd(sink, 1), ['']);
    const again = await sink.next((m) => m.member === 'TakeFd');
    for (const f of again.fds ?? []) closeSync(f);
  });
});
