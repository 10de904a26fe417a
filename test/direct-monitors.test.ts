// Monitors see everything (docs/direct.md, rule 7 of the direct path): a
// monitor started while two fastbus peers flood each other on a channel
// revokes the channel before BecomeMonitor returns, so every message either
// peer sends after that passes the bus and is seen, once, in order; the pair
// loses and reorders nothing across the revocation, and is granted a channel
// again once the monitor has gone. Real monitors: busctl monitor,
// dbus-monitor and fastbus monitor, each a process of its own.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { connect, type Connection, type Message } from '../src/client/index.js';
import { CLI, start, startBus, type TestBus } from './fixtures/bus.js';
import { Peers, type Peer } from './fixtures/direct-peers.js';

/** A message as a monitor printed it, the fields the checks need. */
interface Seen {
  type: 'method_call' | 'method_return' | 'error' | 'signal';
  serial: number;
  replySerial: number | undefined;
  sender: string;
  member: string | undefined;
  /** The first argument of a Take call or a Tick signal. */
  seq: number | undefined;
}

interface MonitorKind {
  name: string;
  command(bus: TestBus, rules: string[]): [string, string[]];
  parse(output: string): Seen[];
}

const SEQ_MEMBERS = new Set(['Take', 'Tick']);

function fromJson(line: string, pick: (o: Record<string, unknown>) => Omit<Seen, 'seq'> & { data: unknown }): Seen | undefined {
  if (!line.startsWith('{')) return undefined;
  const { data, ...m } = pick(JSON.parse(line) as Record<string, unknown>);
  return { ...m, seq: SEQ_MEMBERS.has(m.member ?? '') ? (data as number[])[0] : undefined };
}

const MONITORS: MonitorKind[] = [
  {
    name: 'busctl monitor',
    command: (_bus, rules) => ['busctl', ['--user', 'monitor', '--json=short', ...rules.map((r) => `--match=${r}`)]],
    parse: (out) => out.split('\n').map((l) => fromJson(l, (o) => ({
      type: o.type as Seen['type'], serial: o.cookie as number, replySerial: o.reply_cookie as number | undefined,
      sender: o.sender as string, member: o.member as string | undefined, data: (o.payload as { data: unknown } | undefined)?.data,
    }))).filter((m): m is Seen => m !== undefined),
  },
  {
    name: 'dbus-monitor',
    command: (_bus, rules) => ['dbus-monitor', ['--session', ...rules]],
    parse: (out) => {
      const seen: Seen[] = [];
      // A message is a header line (`method call time=... sender=A -> destination=B serial=N ...`) and indented argument lines.
      for (const block of out.split(/\n(?=\S)/)) {
        const [head, ...args] = block.split('\n');
        const type = /^(method call|method return|error|signal) /.exec(head)?.[1];
        if (type === undefined) continue;
        const field = (k: string): string | undefined => new RegExp(`(?:^| )${k}=([^ ;]+)`).exec(head)?.[1];
        const member = field('member');
        const first = /^\s+uint32 (\d+)/.exec(args[0] ?? '')?.[1];
        seen.push({
          type: type.replace(' ', '_') as Seen['type'], serial: Number(field('serial')),
          replySerial: field('reply_serial') === undefined ? undefined : Number(field('reply_serial')),
          sender: field('sender')!, member, seq: SEQ_MEMBERS.has(member ?? '') && first !== undefined ? Number(first) : undefined,
        });
      }
      return seen;
    },
  },
  {
    name: 'fastbus monitor',
    command: (bus, rules) => [process.execPath, [CLI, 'monitor', '--address', bus.address, '--json', ...rules.map((r) => `--match=${r}`)]],
    parse: (out) => out.split('\n').map((l) => fromJson(l, (o) => ({
      type: o.type as Seen['type'], serial: o.serial as number, replySerial: o.replySerial as number | undefined,
      sender: o.sender as string, member: o.member as string | undefined, data: o.data,
    }))).filter((m): m is Seen => m !== undefined),
  },
];

/**
 * What the monitor saw of `from`'s flood to `to`: its numbered calls and
 * signals strictly increasing (each once, in order), every one from `mark`
 * (taken after the monitor started) to `last`; each of its calls seen from
 * `mark` on answered once, by `to`, as the monitor saw.
 */
function checkSeen(seen: Seen[], from: Peer, to: Peer, mark: number, last: number, monitor: string): void {
  const mine = seen.filter((m) => m.sender === from.name && m.seq !== undefined);
  for (let i = 1; i < mine.length; i++) {
    assert.ok(mine[i].seq! > mine[i - 1].seq!, `${monitor} saw ${from.name}'s ${mine[i].seq} after ${mine[i - 1].seq}`);
  }
  const numbers = new Set(mine.map((m) => m.seq!));
  const missing: number[] = [];
  for (let s = mark; s <= last; s++) if (!numbers.has(s)) missing.push(s);
  assert.deepEqual(missing.slice(0, 10), [], `${monitor} missed ${missing.length} of ${from.name}'s messages from ${mark} to ${last}`);
  const replies = new Map<number, number>();
  for (const m of seen) {
    if (m.sender === to.name && m.type === 'method_return' && m.replySerial !== undefined) replies.set(m.replySerial, (replies.get(m.replySerial) ?? 0) + 1);
  }
  for (const m of mine) {
    if (m.type !== 'method_call' || m.seq! < mark) continue;
    assert.equal(replies.get(m.serial), 1, `${monitor} saw the reply to ${from.name}'s call ${m.seq} once`);
  }
}

/** The receiver got every message of both floods from the sender, in order. */
async function checkReceived(to: Peer, from: Peer, last: number): Promise<void> {
  const [received, disorder] = await to.call('Stats', 's', [from.name]);
  assert.equal(received, last, `${to.name} got each of ${from.name}'s ${last} calls and signals`);
  assert.equal(disorder, 0, `${to.name} got ${from.name}'s messages in order`);
}

describe('monitors started while a pair talks on a channel', () => {
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

  for (const kind of MONITORS) {
    it(`shows ${kind.name} every message sent after it started, once and in order, and the pair loses and reorders nothing`, { timeout: 120000 }, async () => {
      const [a, b] = await Promise.all([peers.start('auto'), peers.start('auto')]);
      await a.call('WatchTicks', 's', [b.name]);
      await b.call('WatchTicks', 's', [a.name]);
      await Promise.all([a.call('FloodOn', 'suu', [b.name, 16, 5]), b.call('FloodOn', 'suu', [a.name, 16, 5])]);
      await Promise.all([a.call('WaitDirect', 's', [b.name]), b.call('WaitDirect', 's', [a.name])]);

      const [cmd, args] = kind.command(bus, [`sender='${a.name}'`, `sender='${b.name}'`]);
      const monitor = start(bus, cmd, args);
      try {
        // A numbered call in its output: it is a monitor, and the pair's calls pass the bus.
        await monitor.waitFor(/member"?[=:]"?Take/);
        const [[markA], [markB]] = await Promise.all([a.call('Mark'), b.call('Mark')]) as [[number], [number]];
        await Promise.all([a.call('WaitSent', 'u', [markA + 300]), b.call('WaitSent', 'u', [markB + 300])]);
        assert.deepEqual(await a.call('IsDirect', 's', [b.name]), [false], 'the channel was revoked');
        const [[errorsA, lastA], [errorsB, lastB]] = await Promise.all([a.call('FloodOff'), b.call('FloodOff')]) as [[number, number], [number, number]];
        assert.deepEqual([errorsA, errorsB], [0, 0], 'every call was answered');
        // Behind every flood message at the bus.
        await a.call('EmitMarker', 's', ['the-end-marker']);
        await monitor.waitFor(/the-end-marker/);
        await monitor.stop();
        const seen = kind.parse(monitor.output());
        checkSeen(seen, a, b, markA, lastA, kind.name);
        checkSeen(seen, b, a, markB, lastB, kind.name);
        await checkReceived(b, a, lastA);
        await checkReceived(a, b, lastB);

        // Nothing watches any more: the pair is granted a channel again.
        await Promise.all([a.call('FloodOn', 'suu', [b.name, 16, 5]), b.call('FloodOn', 'suu', [a.name, 16, 5])]);
        await Promise.all([a.call('WaitDirect', 's', [b.name]), b.call('WaitDirect', 's', [a.name])]);
        const [[, lastA2], [, lastB2]] = await Promise.all([a.call('FloodOff'), b.call('FloodOff')]) as [[number, number], [number, number]];
        await checkReceived(b, a, lastA2);
        await checkReceived(a, b, lastB2);
      } finally {
        await monitor.stop();
        a.child.kill('SIGKILL');
        b.child.kill('SIGKILL');
      }
    });
  }

  it('lets a receiver read what waited on its revoked channel before the sender\'s messages that came through the bus after', { timeout: 120000 }, async () => {
    const [a, b] = await Promise.all([peers.start('auto'), peers.start('auto')]);
    const monitor = await connect(bus.address);
    try {
      await b.call('WatchTicks', 's', [a.name]);
      await a.call('FloodOn', 'suu', [b.name, 4, 0]);
      await a.call('WaitDirect', 's', [b.name]);
      const [[, warmUp]] = await Promise.all([a.call('FloodOff')]) as [[number, number]];
      // b stops reading: a's signals fill the ring and a's queue behind it.
      b.child.kill('SIGSTOP');
      const [backlogEnd] = await a.call('EmitTicks', 'u', [20000]) as [number];
      const seen: number[] = [];
      let marked!: () => void;
      const marker = new Promise<void>((resolve) => { marked = resolve; });
      await monitor.becomeMonitor([`sender='${a.name}'`], (m: Message) => {
        if (m.member === 'Tick') seen.push(m.body[0] as number);
        else if (m.member === 'Marker') marked();
      });
      // After BecomeMonitor returned: these pass the bus (a revokes at its first send), behind a's end frame on the channel.
      const [last] = await a.call('EmitTicks', 'u', [100]) as [number];
      assert.equal(last, backlogEnd + 100);
      assert.deepEqual(await a.call('IsDirect', 's', [b.name]), [false]);
      b.child.kill('SIGCONT');
      await b.call('WaitReceived', 'su', [a.name, last]);
      const [received, disorder] = await b.call('Stats', 's', [a.name]);
      assert.deepEqual([received, disorder], [last, 0], `b got all ${last} of a's messages (${warmUp} calls, then ticks), in order`);
      await a.call('EmitMarker', 's', ['the-end-marker']);
      await marker;
      assert.deepEqual(seen.filter((n) => n > backlogEnd), Array.from({ length: 100 }, (_, i) => backlogEnd + 1 + i), 'the monitor saw each tick sent after it started, once, in order');
    } finally {
      b.child.kill('SIGCONT');
      monitor.close();
      a.child.kill('SIGKILL');
      b.child.kill('SIGKILL');
    }
  });
});

describe('an eavesdropper added while a pair talks on a channel', () => {
  it('sees every call sent after its AddMatch returned, once and in order', { timeout: 120000 }, async () => {
    const config = `<busconfig><type>session</type>
      <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>`;
    const bus = await startBus('fastbus', config);
    const driver = await connect(bus.address);
    const peers = new Peers(bus, () => driver);
    const eavesdropper = await connect(bus.address);
    const seen: number[] = [];
    let marked!: () => void;
    const marker = new Promise<void>((resolve) => { marked = resolve; });
    const onReceive = (event: unknown): void => {
      const { connection, message } = event as { connection: Connection; message: Message };
      if (connection !== eavesdropper) return;
      if (message.member === 'Take') seen.push(message.body[0] as number);
      else if (message.member === 'Marker') marked();
    };
    diagnostics.subscribe('fastbus:client:receive', onReceive);
    try {
      const [a, b] = await Promise.all([peers.start('auto'), peers.start('auto')]);
      await a.call('FloodOn', 'suu', [b.name, 16, 0]);
      await a.call('WaitDirect', 's', [b.name]);
      await eavesdropper.addMatch(`eavesdrop='true',sender='${a.name}'`);
      const [mark] = await a.call('Mark') as [number];
      await a.call('WaitSent', 'u', [mark + 300]);
      const [errors, last] = await a.call('FloodOff') as [number, number];
      assert.equal(errors, 0);
      await a.call('EmitMarker', 's', ['the-end-marker']);
      await marker;
      const after = seen.filter((n) => n >= mark);
      assert.deepEqual(after, Array.from({ length: last - mark + 1 }, (_, i) => mark + i), 'each call from the mark on, once, in order');
      const [received, disorder] = await b.call('Stats', 's', [a.name]);
      assert.deepEqual([received, disorder], [last, 0]);
      assert.deepEqual(await a.call('IsDirect', 's', [b.name]), [false], 'no channel while an eavesdropper listens');
    } finally {
      diagnostics.unsubscribe('fastbus:client:receive', onReceive);
      eavesdropper.close();
      await peers.stopAll();
      driver.close();
      await bus.stop();
    }
  });
});
