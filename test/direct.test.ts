// The direct path with real processes (docs/direct.md): fastbus peers that
// the bus switches to a channel mid-stream keep every sender's order, a name
// moving between owners loses and duplicates nothing, other clients and other
// buses see no change, and a peer's death reads as it does through the bus.
// Each peer is a process of its own (test/fixtures/direct-peer.ts), driven
// through the bus by the test's own connection.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Connection, type Message } from '../src/client/index.js';
import { CLI, run, startBus, type TestBus } from './fixtures/bus.js';
import { dbusBrokerSkip, startDbusBroker } from './fixtures/dbus-broker.js';
import { floodBothWays, IFACE, Peers, type Peer } from './fixtures/direct-peers.js';

describe('the direct path on a fastbus bus', () => {
  let bus: TestBus;
  let driver: Connection;
  let peers: Peers;

  before(async () => {
    bus = await startBus('fastbus');
    driver = await connect(bus.address);
    peers = new Peers(bus, () => driver);
  });
  after(async () => {
    await peers.stopAll();
    driver.close();
    await bus.stop();
  });

  it('switches pairs to a channel under load both ways, each sender\'s calls and signals in order', { timeout: 120000 }, async () => {
    for (let round = 0; round < 8; round++) {
      const [a, b] = await Promise.all([peers.start('auto'), peers.start('auto')]);
      await floodBothWays(a, b, 400);
      a.child.kill('SIGKILL');
      b.child.kill('SIGKILL');
    }
  });

  it('switches one pair to a new channel 100 times under load both ways (a monitor revoking each), each sender\'s calls and signals in order', { timeout: 240000 }, async () => {
    const grants = async (): Promise<number> => {
      const [m] = await driver.callMethod({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus.Debug.Stats', member: 'GetStats' });
      return (m as Record<string, { value: number }>).DirectGrants.value;
    };
    const [a, b] = await Promise.all([peers.start('auto'), peers.start('auto')]);
    await a.call('WatchTicks', 's', [b.name]);
    await b.call('WatchTicks', 's', [a.name]);
    const grantsBefore = await grants();
    await Promise.all([a.call('FloodOn', 'suu', [b.name, 16, 5]), b.call('FloodOn', 'suu', [a.name, 16, 5])]);
    for (let i = 0; i < 100; i++) {
      // Both ends on the new channel, with calls and ticks in flight both ways.
      await Promise.all([a.call('WaitDirect', 's', [b.name]), b.call('WaitDirect', 's', [a.name])]);
      // A monitor revokes it (the switch in reverse); once it has gone, the pair is granted again.
      const monitor = await connect(bus.address, { direct: 'off' });
      await monitor.becomeMonitor([`sender='${a.name}',member='Marker'`], () => undefined);
      monitor.close();
    }
    await Promise.all([a.call('WaitDirect', 's', [b.name]), b.call('WaitDirect', 's', [a.name])]);
    const [[errorsA, lastA], [errorsB, lastB]] = await Promise.all([a.call('FloodOff'), b.call('FloodOff')]) as [[number, number], [number, number]];
    assert.deepEqual([errorsA, errorsB], [0, 0], 'every call was answered');
    assert.ok(await grants() - grantsBefore >= 101, 'the pair was granted a channel 101 times');
    for (const [to, from, last] of [[b, a, lastA], [a, b, lastB]] as const) {
      const [received, disorder] = await to.call('Stats', 's', [from.name]);
      assert.equal(received, last, `${to.name} got every one of ${from.name}'s ${last} calls and ticks`);
      assert.equal(disorder, 0, `${to.name} got ${from.name}'s messages in order`);
    }
    a.child.kill('SIGKILL');
    b.child.kill('SIGKILL');
  });

  it('answers every call to a name moving from one owner to another exactly once, by an owner', { timeout: 60000 }, async () => {
    const NAME = 'org.fastbus.Test.Moving';
    const b = await peers.start('auto', [NAME]);
    const c = await peers.start('auto');
    const a = await peers.start('auto');
    assert.deepEqual(await c.call('Request', 'su', [NAME, 0]), [2]); // queued behind b
    // Switch a to b first, then move the name while a floods calls to it.
    await a.call('Flood', 'suuu', [NAME, 20, 4, 0]);
    assert.deepEqual(await a.call('IsDirect', 's', [b.name]), [true]);
    const COUNT = 3000;
    const flood = a.call('Flood', 'suuu', [NAME, COUNT, 32, 0]);
    await b.call('Release', 's', [NAME]);
    assert.deepEqual(await flood, [0, COUNT]);
    const [byB] = (await b.call('Handled')) as [number[]];
    const [byC] = (await c.call('Handled')) as [number[]];
    // The warm-up's 20 calls went to b; every flood call once, to b or c.
    const flooded = [...byB.slice(20), ...byC];
    assert.equal(flooded.length, COUNT, 'each call was handled once');
    assert.equal(new Set(flooded).size, COUNT, 'no call was handled twice');
    assert.ok(byC.length > 0, 'the new owner got the calls after the move');
    for (const p of [b, c]) {
      const [, , wrongOwner] = await p.call('Stats', 's', [a.name]);
      assert.equal(wrongOwner, 0, `${p.name} never handled a call to a name it did not own`);
    }
  });

  it('serves busctl while two fastbus peers talk on a channel', { timeout: 60000 }, async () => {
    const b = await peers.start('auto', ['org.fastbus.Test.Busctl']);
    const a = await peers.start('auto');
    const flood = a.call('Flood', 'suuu', [b.name, 2000, 16, 0]);
    for (let i = 1; i <= 5; i++) {
      const out = await run(bus, 'busctl', ['--user', 'call', 'org.fastbus.Test.Busctl', '/peer', IFACE, 'Take', 'u', String(100000 + i)]);
      assert.equal(out.trim(), `s "${b.name}"`);
    }
    assert.deepEqual(await flood, [0, 2000]);
    assert.deepEqual(await a.call('IsDirect', 's', [b.name]), [true]);
  });

  it('counts a pair\'s channel traffic in Debug.Stats and lists the pair in fastbus status', { timeout: 60000 }, async () => {
    const b = await peers.start('auto');
    const a = await peers.start('auto');
    assert.deepEqual(await a.call('Flood', 'suuu', [b.name, 100, 8, 0]), [0, 100]);
    const stats = async (name: string): Promise<Record<string, number>> => {
      const [m] = await driver.callMethod({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus.Debug.Stats', member: 'GetConnectionStats', signature: 's', body: [name] });
      return Object.fromEntries(Object.entries(m as Record<string, { value: number }>).map(([k, v]) => [k, v.value]));
    };
    const sa = await stats(a.name);
    const sb = await stats(b.name);
    assert.equal(sa.DirectPeers, 1);
    assert.ok(sa.DirectOutgoingBytes > 0, 'a sent on the channel');
    assert.equal(sa.DirectOutgoingBytes, sb.DirectIncomingBytes);
    assert.equal(sa.DirectIncomingBytes, sb.DirectOutgoingBytes);
    const out = await run(bus, process.execPath, [CLI, 'status', '--address', bus.address]);
    const line = out.split('\n').find((l) => l.startsWith('DirectPair=') && l.includes(a.name) && l.includes(b.name));
    assert.ok(line, `fastbus status lists the pair:\n${out}`);
    assert.match(line, / live \d+ \d+$/);
  });

  it('passes unix fds on the channel', { timeout: 60000 }, async () => {
    const b = await peers.start('auto');
    const a = await peers.start('auto');
    assert.deepEqual(await a.call('Flood', 'suuu', [b.name, 20, 4, 0]), [0, 20]);
    assert.deepEqual(await a.call('IsDirect', 's', [b.name]), [true]);
    const [before] = (await a.call('DirectSent', 's', [b.name])) as [number];
    assert.deepEqual(await a.call('SendFd', 'ss', [b.name, 'through the channel']), ['through the channel']);
    assert.deepEqual(await a.call('DirectSent', 's', [b.name]), [before + 1], 'the call with the fd went on the channel');
    assert.deepEqual(await a.call('IsDirect', 's', [b.name]), [true]);
  });

  it('keeps a client with direct: \'off\' on the bus', { timeout: 60000 }, async () => {
    const b = await peers.start('auto');
    const a = await peers.start('off');
    assert.deepEqual(await a.call('Flood', 'suuu', [b.name, 200, 8, 0]), [0, 200]);
    assert.deepEqual(await a.call('IsDirect', 's', [b.name]), [false]);
    assert.deepEqual(await b.call('IsDirect', 's', [a.name]), [false]);
    const [received, disorder] = await b.call('Stats', 's', [a.name]);
    assert.deepEqual([received, disorder], [200, 0]);
  });

  it('keeps pairs on the bus while a monitor is attached, which sees every call once, in order', { timeout: 60000 }, async () => {
    const monitor = await connect(bus.address);
    const seqs: number[] = [];
    let done!: () => void;
    const all = new Promise<void>((r) => { done = r; });
    await monitor.becomeMonitor([`type='method_call',interface='${IFACE}',member='Take'`], (m: Message) => {
      if (m.member !== 'Take') return; // the bus's own NameLost to the monitor
      seqs.push(m.body[0] as number);
      if (seqs.length === 300) done();
    });
    try {
      const b = await peers.start('auto');
      const a = await peers.start('auto');
      assert.deepEqual(await a.call('Flood', 'suuu', [b.name, 300, 16, 0]), [0, 300]);
      await all;
      assert.deepEqual(seqs, Array.from({ length: 300 }, (_, i) => i + 1));
      assert.deepEqual(await a.call('IsDirect', 's', [b.name]), [false]);
    } finally {
      monitor.close();
    }
  });

  it('fails a call to a peer SIGKILLed mid-call with the bus\'s NoReply', { timeout: 60000 }, async () => {
    const b = await peers.start('auto');
    const a = await peers.start('auto');
    assert.deepEqual(await a.call('Flood', 'suuu', [b.name, 20, 4, 0]), [0, 20]);
    assert.deepEqual(await a.call('IsDirect', 's', [b.name]), [true]);
    await a.call('CallHang', 's', [b.name]);
    // b has the call (it answers a later one, and the channel keeps order) before it dies.
    await a.call('Flood', 'suuu', [b.name, 1, 1, 0]);
    b.child.kill('SIGKILL');
    assert.deepEqual(await a.call('HangResult'), ['org.freedesktop.DBus.Error.NoReply', 'Message recipient disconnected from message bus without replying']);
  });

  it('delivers everything a peer sent on its channel before the NameOwnerChanged that says it left', { timeout: 60000 }, async () => {
    const b = await peers.start('auto');
    const a = await peers.start('auto');
    await a.call('Flood', 'suuu', [b.name, 20, 4, 0]);
    await b.call('Flood', 'suuu', [a.name, 20, 4, 0]);
    assert.deepEqual(await b.call('IsDirect', 's', [a.name]), [true]);
    await a.call('WatchTicks', 's', [b.name]);
    await a.call('WatchLeave', 's', [b.name]);
    const died = new Promise((r) => b.child.once('exit', r));
    await b.call('EmitAndDie', 'u', [2000]).catch(() => undefined); // its reply may die with it
    await died;
    assert.deepEqual(await a.call('LeaveResult'), [2020], 'the 20 calls and 2000 signals b sent came before the news it left');
  });
});

describe('the direct path\'s queue limit', () => {
  it('fails calls a stopped receiver\'s channel cannot queue with LimitsExceeded, as the bus would, and loses none it took', { timeout: 120000 }, async () => {
    const config = `<busconfig><type>session</type><limit name="max_outgoing_bytes">65536</limit>
      <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>`;
    const bus = await startBus('fastbus', config);
    const driver = await connect(bus.address);
    const peers = new Peers(bus, () => driver);
    try {
      const b = await peers.start('auto');
      const a = await peers.start('auto');
      assert.deepEqual(await a.call('Flood', 'suuu', [b.name, 20, 4, 0]), [0, 20]);
      assert.deepEqual(await a.call('IsDirect', 's', [b.name]), [true]);
      b.child.kill('SIGSTOP');
      // Far more than the 1 MiB ring and 64 KiB of queue hold.
      const COUNT = 20000;
      const [refused, firstError] = (await a.call('Burst', 'su', [b.name, COUNT])) as [number, string];
      assert.ok(refused > 0, 'some calls were refused');
      assert.ok(refused < COUNT, 'the ring and the queue took some');
      assert.equal(firstError, 'org.freedesktop.DBus.Error.LimitsExceeded');
      b.child.kill('SIGCONT');
      assert.deepEqual(await a.call('BurstResult'), [COUNT - refused, refused], 'every call taken was answered');
    } finally {
      await peers.stopAll();
      driver.close();
      await bus.stop();
    }
  });
});

describe('the direct path where it must not apply', () => {
  it('changes nothing for a fastbus client on dbus-daemon', { timeout: 60000 }, async () => {
    const bus = await startBus('dbus-daemon');
    const driver = await connect(bus.address);
    const peers = new Peers(bus, () => driver);
    try {
      const b = await peers.start('auto');
      const a = await peers.start('auto');
      await floodOneWay(a, b);
    } finally {
      await peers.stopAll();
      driver.close();
      await bus.stop();
    }
  });

  it('changes nothing for a fastbus client on dbus-broker', { timeout: 60000, skip: dbusBrokerSkip() }, async () => {
    const bus = await startDbusBroker();
    const driver = await connect(bus.address);
    const peers = new Peers(bus, () => driver);
    try {
      const b = await peers.start('auto');
      const a = await peers.start('auto');
      await floodOneWay(a, b);
    } finally {
      await peers.stopAll();
      driver.close();
      await bus.stop();
    }
  });

  it('grants no channel where send/receive rules apply', { timeout: 60000 }, async () => {
    const config = `<busconfig><type>session</type><policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/>
      <deny send_interface="org.fastbus.Test.Forbidden"/></policy></busconfig>`;
    const bus = await startBus('fastbus', config);
    const driver = await connect(bus.address);
    const peers = new Peers(bus, () => driver);
    try {
      const b = await peers.start('auto');
      const a = await peers.start('auto');
      await floodOneWay(a, b);
    } finally {
      await peers.stopAll();
      driver.close();
      await bus.stop();
    }
  });
});

/** a floods b through the bus: all arrives, in order, and no channel is used. */
async function floodOneWay(a: Peer, b: Peer): Promise<void> {
  assert.deepEqual(await a.call('Flood', 'suuu', [b.name, 200, 8, 0]), [0, 200]);
  const [received, disorder, , direct] = await b.call('Stats', 's', [a.name]);
  assert.deepEqual([received, disorder, direct], [200, 0, false]);
  assert.deepEqual(await a.call('IsDirect', 's', [b.name]), [false]);
}
