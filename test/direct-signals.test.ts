// Signals filtered at the sender (docs/direct.md, rule 6 of the direct path):
// a receiver's match rules reach its direct peer, which copies to the
// channel only the signals they match; rules added and removed while the
// peer floods signals: every matching signal emitted after AddMatch returned
// arrives, none reaches the subscriber after RemoveMatch returned, and the
// sender copies nothing the receiver did not ask for. Real processes
// (test/fixtures/direct-peer.ts), one match key after another.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Connection, type SignalFilter } from '../src/client/index.js';
import { startBus, type TestBus } from './fixtures/bus.js';
import { Peers, type Peer } from './fixtures/direct-peers.js';

const SENDER_NAME = 'org.fastbus.Test.Emitter';
const IFACE = 'org.fastbus.Test.Peer';

/** The peer's Named(name, seq) signals: at /peer/<seq % 4>, name org.example.N<seq % 3>.x. */
const CASES: { keys: string; filter: SignalFilter; wants(seq: number): boolean }[] = [
  { keys: 'interface and member', filter: { interface: IFACE, member: 'Named' }, wants: () => true },
  { keys: 'path', filter: { member: 'Named', path: '/peer/3' }, wants: (n) => n % 4 === 3 },
  { keys: 'path_namespace', filter: { interface: IFACE, pathNamespace: '/peer/1' }, wants: (n) => n % 4 === 1 },
  { keys: 'arg0', filter: { member: 'Named', args: { 0: 'org.example.N1.x' } }, wants: (n) => n % 3 === 1 },
  { keys: 'arg0namespace', filter: { member: 'Named', arg0namespace: 'org.example.N2' }, wants: (n) => n % 3 === 2 },
  { keys: 'a well-known sender', filter: { sender: SENDER_NAME, member: 'Named', path: '/peer/0' }, wants: (n) => n % 4 === 0 },
];

describe('signals filtered at the sender between direct peers', () => {
  let bus: TestBus;
  let driver: Connection;
  let peers: Peers;
  let a: Peer;
  let b: Peer;

  before(async () => {
    bus = await startBus('fastbus');
    driver = await connect(bus.address);
    peers = new Peers(bus, () => driver);
    [a, b] = await Promise.all([peers.start('auto', [SENDER_NAME]), peers.start('auto')]);
    // Both directions on the channel: b's rules travel b's side of it.
    await a.call('Flood', 'suuu', [b.name, 20, 4, 0]);
    await b.call('Flood', 'suuu', [a.name, 20, 4, 0]);
    assert.deepEqual(await a.call('IsDirect', 's', [b.name]), [true]);
    assert.deepEqual(await b.call('IsDirect', 's', [a.name]), [true]);
    await a.call('SignalFloodOn');
  });
  after(async () => {
    await a.call('SignalFloodOff').catch(() => undefined);
    await peers.stopAll();
    driver.close();
    await bus.stop();
  });

  /** Once this returns, a has read everything b wrote on the channel before (b's call travels it behind its rules). */
  const channelBarrier = async (): Promise<void> => {
    assert.deepEqual(await b.call('Flood', 'suuu', [a.name, 1, 1, 0]), [0, 1]);
  };

  it('copies nothing to a receiver without a matching rule', { timeout: 60000 }, async () => {
    await channelBarrier();
    const [mark, before] = await a.call('MarkSent', 's', [b.name]) as [number, number];
    await a.call('WaitSent', 'u', [mark + 500]);
    assert.deepEqual((await a.call('MarkSent', 's', [b.name]))[1], before, 'no signal went on the channel');
  });

  for (const c of CASES) {
    it(`delivers every signal its ${c.keys} rule matches from AddMatch to RemoveMatch, and copies only those`, { timeout: 60000 }, async () => {
      await b.call('Subscribe', 's', [JSON.stringify(c.filter)]);
      // Numbers a sends from here on were emitted after AddMatch returned.
      const [start] = await a.call('Mark') as [number];
      await a.call('WaitSent', 'u', [start + 300]);
      await channelBarrier();
      const [from, sentBefore] = await a.call('MarkSent', 's', [b.name]) as [number, number];
      await a.call('WaitSent', 'u', [from + 300]);
      const [to, sentAfter] = await a.call('MarkSent', 's', [b.name]) as [number, number];
      let wanted = 0;
      for (let n = from; n < to; n++) if (c.wants(n)) wanted++;
      assert.equal(sentAfter - sentBefore, wanted, `a copied to b's channel exactly the ${wanted} of ${to - from} signals b's rule matches`);
      // Everything a emitted before `end` reached b before it unsubscribes: a's call travels the channel behind it.
      const [end] = await a.call('Mark') as [number];
      assert.deepEqual(await a.call('Flood', 'suuu', [b.name, 1, 1, 0]), [0, 1]);
      await b.call('Unsubscribe');
      const [afterRemove] = await a.call('Mark') as [number];
      await a.call('WaitSent', 'u', [afterRemove + 300]);
      await channelBarrier();
      const [seqs, late] = await b.call('Subscribed') as [number[], number];
      const got = new Set(seqs);
      const missing: number[] = [];
      for (let n = start; n < end; n++) if (c.wants(n) && !got.has(n)) missing.push(n);
      assert.deepEqual(missing.slice(0, 10), [], `b missed ${missing.length} matching signals emitted after AddMatch returned`);
      assert.deepEqual(seqs.filter((n) => !c.wants(n)), [], 'b got only what its rule matches');
      assert.equal(late, 0, 'nothing reached the subscriber after RemoveMatch returned');
      const [last, sentNow] = await a.call('MarkSent', 's', [b.name]) as [number, number];
      await a.call('WaitSent', 'u', [last + 300]);
      assert.equal((await a.call('MarkSent', 's', [b.name]))[1], sentNow, 'nothing is copied once the rule is gone');
    });
  }

  it('delivers every signal a new rule matches while the receiver\'s side of the channel is backed up behind its rules frame', { timeout: 60000 }, async () => {
    const c = CASES.find((x) => x.keys === 'arg0namespace')!;
    await a.call('WatchTicks', 's', [b.name]);
    await channelBarrier();
    // b's side of the channel fills with ticks for a: b's rules frame waits behind them.
    const [lastTick] = await b.call('EmitTicks', 'u', [20000]) as [number];
    await b.call('Subscribe', 's', [JSON.stringify(c.filter)]);
    const [start] = await a.call('Mark') as [number];
    await a.call('WaitSent', 'u', [start + 300]);
    await a.call('WaitReceived', 'su', [b.name, lastTick]);
    const [end] = await a.call('Mark') as [number];
    assert.deepEqual(await a.call('Flood', 'suuu', [b.name, 1, 1, 0]), [0, 1]);
    await b.call('Unsubscribe');
    const [seqs] = await b.call('Subscribed') as [number[], number];
    const got = new Set(seqs);
    const missing: number[] = [];
    for (let n = start; n < end; n++) if (c.wants(n) && !got.has(n)) missing.push(n);
    assert.deepEqual(missing.slice(0, 10), [], `b missed ${missing.length} matching signals emitted after AddMatch returned`);
  });
});
