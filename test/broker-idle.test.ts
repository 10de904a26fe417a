// Connections that say Hello and then idle hold little in the broker: these
// tests check that what is now made on first use (the pidfd shared as
// ProcessFD, the received-fd pool, stats counters) still works, and that an
// idle connection is served normally after others came and went.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startBroker, type RunningBroker } from '../src/broker/index.js';
import * as native from '../src/native/native.js';
import { MessageType, type DecodedMessage, type Variant } from '../src/wire/index.js';
import { DBUS, raw, type Raw } from './fixtures/raw-client.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;

describe('idle connections on an in-process broker', { timeout: 30000 }, () => {
  let dir: string;
  let bus: RunningBroker;
  let watcher: Raw;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'fastbus-idle-'));
    bus = await startBroker({ address: `unix:path=${path.join(dir, 'bus')}`, log: () => undefined });
    watcher = await raw(bus.address);
    await watcher.call({ ...DBUS, member: 'AddMatch', signature: 's', body: ["type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged'"] });
  });
  after(() => {
    watcher?.stream.close();
    bus?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Asks for `name`'s credentials with fds; closes any fd the reply carried and returns whether it had ProcessFD. */
  async function askCredentials(name: string): Promise<boolean> {
    const reply = await watcher.call({ ...DBUS, member: 'GetConnectionCredentials', signature: 's', body: [name] });
    assert.equal(reply.type, MessageType.METHOD_RETURN);
    for (const fd of reply.fds ?? []) native.fdClose(fd);
    return (reply.body[0] as Map<string, Variant>).has('ProcessFD');
  }

  function departed(name: string): Promise<DecodedMessage> {
    return watcher.next((m) => m.member === 'NameOwnerChanged' && m.body[0] === name && m.body[2] === '');
  }

  it('serves a connection that said Hello and idled while others came, were asked for credentials and left', async () => {
    const idle = await raw(bus.address);
    for (let i = 0; i < 5; i++) {
      const other = await raw(bus.address);
      assert.equal(await askCredentials(other.name), true);
      const gone = departed(other.name);
      other.stream.close();
      await gone;
    }
    // A call to the idle connection reaches it, and its reply reaches the caller.
    const peer = await raw(bus.address);
    const serial = peer.send({ destination: idle.name, path: '/x', interface: 'x.Y', member: 'Ping', signature: 's', body: ['hi'] });
    const call = await idle.next((m) => m.member === 'Ping');
    assert.deepEqual(call.body, ['hi']);
    assert.equal(call.sender, peer.name);
    idle.send({ type: MessageType.METHOD_RETURN, destination: peer.name, replySerial: call.serial, signature: 's', body: ['ho'] });
    const reply = await peer.next((m) => m.replySerial === serial);
    assert.deepEqual(reply.body, ['ho']);
    // Its own calls and the bus's stats for it work too.
    const stats = await peer.call({ ...DBUS, interface: 'org.freedesktop.DBus.Debug.Stats', member: 'GetConnectionStats', signature: 's', body: [idle.name] });
    const m = stats.body[0] as Map<string, Variant>;
    assert.equal(m.get('IncomingMessages')?.value, 2);
    assert.equal(m.get('OutgoingMessages')?.value, 3);
    assert.equal(await askCredentials(idle.name), true);
    // And a signal it subscribes to now.
    await idle.call({ ...DBUS, member: 'AddMatch', signature: 's', body: ["type='signal',interface='x.Y'"] });
    peer.send({ type: MessageType.SIGNAL, path: '/x', interface: 'x.Y', member: 'Changed', body: [] });
    const sig = await idle.next((x) => x.member === 'Changed');
    assert.equal(sig.sender, peer.name);
    for (const c of [idle, peer]) {
      const gone = departed(c.name);
      c.stream.close();
      await gone;
    }
  });

  it('closes the pidfd of each connection that leaves, whether or not a caller was given it as ProcessFD', async () => {
    const before = openFds();
    const clients = await Promise.all([raw(bus.address), raw(bus.address), raw(bus.address)]);
    assert.equal(await askCredentials(clients[0]!.name), true);
    assert.equal(await askCredentials(clients[1]!.name), true);
    assert.equal(await askCredentials(clients[1]!.name), true);
    for (const c of clients) {
      const gone = departed(c.name);
      c.stream.close();
      await gone;
    }
    assert.equal(openFds(), before);
  });
});
