// Broadcasts the bus does not need (docs/direct.md): while every subscriber
// of an emitter's signals gets them on a channel, the emitter leaves the bus
// out; a subscriber the bus must serve, joining while the emitter floods,
// gets every signal emitted after its AddMatch (or RequestName, or
// BecomeMonitor) returned, in order, and once it has gone the bus is left
// out again. The direct subscriber meanwhile loses and reorders nothing.
// Real processes: the fastbus bus, fastbus peers (test/fixtures/direct-peer.ts),
// dbus-python and dbus-monitor.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { connect, type Connection } from '../src/client/index.js';
import { FIXTURES, start, startBus, type TestBus } from './fixtures/bus.js';
import { IFACE, Peers, type Peer } from './fixtures/direct-peers.js';

const NAMED = JSON.stringify({ interface: IFACE, member: 'Named' });
const LATER = 'org.fastbus.Test.Later';

/** Checks that `seqs` hold every number from `from` to `to` - 1, each once, in order. */
function checkRun(seqs: number[], from: number, to: number, who: string): void {
  const mine = seqs.filter((n) => n >= from && n < to);
  const missing: number[] = [];
  const got = new Set(mine);
  for (let n = from; n < to; n++) if (!got.has(n)) missing.push(n);
  assert.deepEqual(missing.slice(0, 10), [], `${who} missed ${missing.length} of the signals emitted from ${from} to ${to}`);
  for (let i = 1; i < mine.length; i++) assert.ok(mine[i] > mine[i - 1], `${who} got ${mine[i]} after ${mine[i - 1]}`);
}

/** Resolves at the child's next output. */
function nextOutput(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const exited = (code: number | null): void => reject(new Error(`exited (${code})`));
    child.once('exit', exited);
    child.stdout!.once('data', () => {
      child.off('exit', exited);
      resolve();
    });
  });
}

describe('broadcasts the bus does not need', () => {
  let bus: TestBus;
  let driver: Connection;
  /** Calls through the bus, giving their peer no channel. */
  let offDriver: Connection;
  let peers: Peers;
  let a: Peer;
  let b: Peer;

  /** What the bus has read from `p` so far (messages). */
  const incoming = async (p: Peer): Promise<number> => {
    const [m] = await driver.callMethod({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus.Debug.Stats', member: 'GetConnectionStats', signature: 's', body: [p.name] });
    return (m as Record<string, { value: number }>).IncomingMessages.value;
  };

  /** Resolves once 200 of e's flood signals in a row cost the bus fewer than 20 messages from e (its replies to these calls among them). */
  const busLeftOut = async (e = a): Promise<void> => {
    for (;;) {
      const before = await incoming(e);
      const [mark] = await e.call('Mark') as [number];
      await e.call('WaitSent', 'u', [mark + 200]);
      if ((await incoming(e)) - before < 20) return;
    }
  };

  /** Resolves once `seqs()` holds `last` (or a later number): for subscribers that cannot be called, as they print. */
  const reached = async (seqs: () => Promise<number[]>, last: number): Promise<number[]> => {
    for (;;) {
      const s = await seqs();
      if (s.length > 0 && s[s.length - 1] >= last) return s;
    }
  };

  /** What fastbus peer `c` got from its subscription, once it has read everything a sent it before (a's call to it follows them). */
  const got = (c: Peer) => async (): Promise<number[]> => {
    await a.call('Flood', 'suuu', [c.name, 1, 1, 0]);
    return (await c.call('Subscribed'))[0] as number[];
  };

  /**
   * Runs `body` while a floods Named signals, b taking every one on the
   * channel; `body` answers the range [from, end) its subscriber must have
   * whole, `collect` what the subscriber got once the flood stopped. Then b
   * must have every signal of the flood, in order.
   */
  const flooding = async (who: string, body: () => Promise<[number, number]>, collect: (range: [number, number]) => Promise<number[]>): Promise<void> => {
    await b.call('Subscribe', 's', [NAMED]);
    const [first] = await a.call('Mark') as [number];
    await a.call('SignalFloodPaced');
    let last = 0;
    let range: [number, number];
    try {
      await busLeftOut();
      range = await body();
    } finally {
      [last] = await a.call('SignalFloodOff') as [number];
    }
    checkRun(await collect(range), range[0], range[1], who);
    checkRun(await got(b)(), first, last + 1, 'the direct subscriber');
    await b.call('Unsubscribe');
  };

  /** Numbers a emits from now on (after the subscriber's AddMatch, RequestName or BecomeMonitor returned), until 500 later. */
  const window = async (e = a): Promise<[number, number]> => {
    const [from] = await e.call('Mark') as [number];
    await e.call('WaitSent', 'u', [from + 300]);
    const [end] = await e.call('Mark') as [number];
    return [from, end];
  };

  /** a and b talk until each sends the other everything on a channel. */
  const regrant = async (): Promise<void> => {
    for (const [x, y] of [[a, b], [b, a]]) {
      while (!(await x.call('IsDirect', 's', [y.name]))[0]) await x.call('Flood', 'suuu', [y.name, 8, 4, 0]);
    }
  };

  before(async () => {
    bus = await startBus('fastbus');
    driver = await connect(bus.address);
    offDriver = await connect(bus.address, { direct: 'off' });
    peers = new Peers(bus, () => driver);
    [a, b] = await Promise.all([peers.start('auto'), peers.start('auto')]);
    await regrant();
  });
  after(async () => {
    await peers.stopAll();
    driver.close();
    offDriver.close();
    await bus.stop();
  });

  /** A fastbus subscriber served by the bus: gets everything from its AddMatch on, in order. */
  const joins = async (c: Peer, who: string): Promise<void> => {
    await flooding(who, async () => {
      await c.call('Subscribe', 's', [NAMED]);
      return window();
    }, got(c));
    await c.call('Unsubscribe');
  };

  it('delivers every signal to a subscriber with the direct path off that joined mid-stream', { timeout: 60000 }, async () => {
    const c = await peers.start('off');
    await joins(c, 'a subscriber with the direct path off');
    c.child.kill();
  });

  it('delivers every signal to a fastbus subscriber without a channel to the emitter that joined mid-stream', { timeout: 60000 }, async () => {
    const c = await peers.start('auto');
    await joins(c, 'a subscriber without a channel to the emitter');
    assert.deepEqual(await a.call('IsDirect', 's', [c.name]), [false]);
    c.child.kill();
  });

  it('delivers the emitter its own signals once it subscribed to them', { timeout: 60000 }, async () => {
    await joins(a, 'the emitter');
  });

  it('delivers every signal to a subscriber whose rule names a well-known name the emitter takes mid-stream', { timeout: 60000 }, async () => {
    const c = await peers.start('off');
    // Nobody owns the name yet: the rule cannot match a's signals, and the flood leaves the bus out.
    await c.call('Subscribe', 's', [JSON.stringify({ sender: LATER, member: 'Named' })]);
    await flooding('the subscriber of the well-known name', async () => {
      assert.deepEqual(await a.call('Request', 'su', [LATER, 0]), [1]);
      return window();
    }, got(c));
    assert.deepEqual(await a.call('Release', 's', [LATER]), [1]);
    c.child.kill();
  });

  /** What a subscriber process printed it got: at once the first time, then at its next output (read once, from where the last match ended). */
  const printed = (proc: () => ReturnType<typeof start>, re: RegExp): () => Promise<number[]> => {
    let looked = false;
    let at = 0;
    const got: number[] = [];
    return async () => {
      if (looked) await nextOutput(proc().child);
      looked = true;
      const text = proc().output();
      let end = at;
      for (const m of text.slice(at).matchAll(re)) {
        got.push(Number(m[1]));
        end = at + m.index + m[0].length;
      }
      at = end;
      return got;
    };
  };

  it('delivers every signal to a dbus-python subscriber that joined mid-stream', { timeout: 60000 }, async () => {
    let py: ReturnType<typeof start> | undefined;
    try {
      await flooding('dbus-python', async () => {
        py = start(bus, '/usr/bin/python3', [path.join(FIXTURES, 'py-signal-subscriber.py'), `type='signal',interface='${IFACE}',member='Named'`]);
        // Printed once its AddMatch returned.
        await py.waitFor(/^ready$/m);
        return window();
      }, (range) => reached(printed(() => py!, /^seq (\d+)$/gm), range[1] - 1));
    } finally {
      await py?.stop();
    }
  });

  it('shows a monitor every signal an emitter without channels sent after BecomeMonitor returned', { timeout: 60000 }, async () => {
    // Nobody subscribes to e's signals, and e has no channel a monitor would revoke: its word alone sends them to the bus.
    const e = await new Peers(bus, () => offDriver).start('auto');
    const monitor = await connect(bus.address, { direct: 'off' });
    const seen: number[] = [];
    let barrier!: () => void;
    const passed = new Promise<void>((resolve) => { barrier = resolve; });
    try {
      await e.call('SignalFloodPaced');
      let range: [number, number];
      try {
        await busLeftOut(e);
        await monitor.becomeMonitor([`sender='${e.name}',member='Named'`, `sender='${e.name}',member='RequestName'`], (m) => {
          if (m.member === 'Named') seen.push(m.body[1] as number);
          else barrier();
        });
        range = await window(e);
      } finally {
        await e.call('SignalFloodOff');
      }
      // e's call to the bus follows every signal it sent there: once the monitor has it, it has them all.
      await e.call('Request', 'su', ['org.fastbus.Test.Barrier', 0]);
      await passed;
      checkRun(seen, range[0], range[1], 'the monitor');
    } finally {
      monitor.close();
      e.child.kill();
    }
    // Every channel was revoked for the monitor: a and b talk until they have one again.
    await regrant();
  });

  it('shows dbus-monitor every signal emitted after it started, once and in order, and leaves the bus out again once it left', { timeout: 60000 }, async () => {
    let mon: ReturnType<typeof start> | undefined;
    try {
      await flooding('dbus-monitor', async () => {
        mon = start(bus, 'dbus-monitor', ['--session', `member='Named'`]);
        // Its first Named: the monitor is attached, and a's signals pass the bus.
        await mon.waitFor(/member=Named/);
        return window();
      }, (range) => reached(printed(() => mon!, /member=Named\n\s+string "[^"]*"\n\s+uint32 (\d+)/g), range[1] - 1));
    } finally {
      await mon?.stop();
    }
    // The pair's channel was revoked for the monitor; granted again, a leaves the bus out again.
    await regrant();
    await flooding('nobody', async () => [0, 0], async () => [0]);
  });
});
