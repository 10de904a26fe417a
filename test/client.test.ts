// The client against a real dbus-daemon: calls, errors, timeouts, aborts,
// disconnects, signals (refcounted match rules, bounded iterators), exported
// objects with the standard interfaces, name ownership, observability.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import {
  AbortError, connect, type Connection, DBusError, defineInterface, DisconnectedError, ErrorNames, NameFlags, RequestNameReply, TimeoutError, Variant,
} from '../src/client/index.js';
import { startBus, type BusKind } from './fixtures/bus.js';
import { dbusBrokerSkip, startDbusBroker } from './fixtures/dbus-broker.js';

type Kind = BusKind | 'dbus-broker';
const KINDS: Kind[] = ['dbus-daemon', 'fastbus', 'dbus-broker'];

function startAny(kind: Kind): Promise<{ address: string; stop(): Promise<void> }> {
  return kind === 'dbus-broker' ? startDbusBroker() : startBus(kind);
}

for (const kind of KINDS) describe(`the client on ${kind}`, { skip: kind === 'dbus-broker' && dbusBrokerSkip() }, () => {
  let daemon: { address: string; stop(): Promise<void> };
  let service: Connection;
  let client: Connection;

  const Calc = defineInterface({
    name: 'com.example.Calc',
    methods: {
      Add: { in: [{ name: 'a', type: 'i' }, { name: 'b', type: 'i' }], out: [{ name: 'sum', type: 'i' }] },
      DivMod: { in: 'ii', out: 'ii' },
      Fail: { in: 's' },
      Never: {},
      Storm: { in: 'u' },
      Slow: { out: 's' },
      Bytes: { in: 'y', out: 'ay' },
    },
    properties: {
      Label: { type: 's', access: 'readwrite' },
      Version: { type: 'u' },
      Secret: { type: 's', access: 'write' },
    },
    signals: { Tick: { args: [{ name: 'n', type: 'u' }] } },
  });

  let exported: ReturnType<Connection['export']>;
  const impl = {
    Label: 'calc',
    Version: 7,
    Secret: '',
    Add(a: number, b: number) {
      return a + b;
    },
    DivMod(a: number, b: number) {
      if (b === 0) throw new DBusError('com.example.Calc.DivideByZero', 'division by zero');
      return [Math.trunc(a / b), a % b];
    },
    Fail(why: string) {
      throw new Error(why);
    },
    Never() {
      return new Promise(() => undefined);
    },
    Storm(n: number) {
      for (let i = 0; i < n; i++) exported.emit('Tick', i);
    },
    async Slow() {
      return 'late';
    },
    Bytes(n: number) {
      return new Uint8Array(64).fill(n);
    },
  };

  before(async () => {
    daemon = await startAny(kind);
    service = await connect(daemon.address);
    client = await connect(daemon.address);
    exported = service.export('/com/example/Calc', Calc, impl);
    assert.equal(await service.requestName('com.example.Calc', NameFlags.DO_NOT_QUEUE), RequestNameReply.PRIMARY_OWNER);
  });

  after(async () => {
    client?.close();
    service?.close();
    await daemon?.stop();
  });

  /** The bus's own count of the connection's match rules (Debug.Stats), or undefined where the bus does not say (dbus-broker). */
  async function matchRuleCount(c: Connection): Promise<number | undefined> {
    try {
      const [s] = await c.callMethod({
        destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus.Debug.Stats',
        member: 'GetConnectionStats', signature: 's', body: [c.uniqueName],
      });
      return (s as Record<string, Variant<number>>).MatchRules.value;
    } catch (e) {
      if (kind === 'dbus-broker' && e instanceof DBusError) return undefined;
      throw e;
    }
  }

  /** Asserts the bus-side rule count where the bus reports it. */
  async function assertBusRules(c: Connection, expected: number | undefined): Promise<void> {
    const n = await matchRuleCount(c);
    if (n !== undefined && expected !== undefined) assert.equal(n, expected);
  }

  test('gets a unique name from Hello and calls a method exported on another connection', async () => {
    assert.match(client.uniqueName, /^:\d+\.\d+$/);
    const reply = await client.call({ destination: 'com.example.Calc', path: '/com/example/Calc', interface: 'com.example.Calc', member: 'Add', signature: 'ii', body: [2, 40] });
    assert.deepEqual(reply.body, [42]);
    assert.equal(reply.signature, 'i');
  });

  test('a proxy built from introspection calls methods, reads and writes properties', async () => {
    const obj = await client.proxy('com.example.Calc', '/com/example/Calc');
    assert.ok(obj.interfaces.has('org.freedesktop.DBus.Properties'));
    const calc = obj.getInterface<{ Add(a: number, b: number): Promise<number>; DivMod(a: number, b: number): Promise<[number, number]> }>('com.example.Calc');
    assert.equal(await calc.Add(1, 2), 3);
    assert.deepEqual(await calc.DivMod(7, 2), [3, 1]);
    assert.equal(await calc.get('Label'), 'calc');
    await calc.set('Label', 'renamed');
    assert.equal(impl.Label, 'renamed');
    assert.deepEqual(await calc.getAll(), { Label: 'renamed', Version: 7 });
    await assert.rejects(calc.set('Version', 8), (e: unknown) => e instanceof DBusError && e.name === ErrorNames.PropertyReadOnly);
    await assert.rejects(calc.get('Secret'), (e: unknown) => e instanceof DBusError && e.name === ErrorNames.AccessDenied);
    await assert.rejects(calc.call('Add', 1), /takes 2 argument/);
    assert.throws(() => obj.getInterface('com.example.Nope'), /has no interface 'com.example.Nope'/);
    // Introspection is cached per destination and path.
    assert.equal(await client.introspect('com.example.Calc', '/com/example/Calc'), await client.introspect('com.example.Calc', '/com/example/Calc'));
  });

  test('a proxy method resolves with nothing, its one value or all its values, rejects (never throws) on a bad call, and takes CallOptions last', async () => {
    const calc = (await client.proxy('com.example.Calc', '/com/example/Calc')).getInterface('com.example.Calc');
    assert.equal(await calc.Storm(0), undefined);
    assert.equal(await calc.Slow(), 'late');
    assert.deepEqual(await calc.DivMod(9, 4), [2, 1]);
    const bad = calc.call('Nope');
    assert.ok(bad instanceof Promise);
    await assert.rejects(bad, /has no method 'Nope'/);
    const short = calc.Add(1);
    assert.ok(short instanceof Promise);
    await assert.rejects(short, TypeError);
    assert.equal(await calc.Add(2, 3, { timeoutMs: 60_000 }), 5);
    await assert.rejects(calc.Never({ timeoutMs: 20 }), (e: unknown) => e instanceof TimeoutError && e.timeoutMs === 20);
    const ac = new AbortController();
    const never = calc.Never({ signal: ac.signal });
    ac.abort();
    await assert.rejects(never, AbortError);
    assert.equal(client.pendingCalls, 0);
  });

  test('byte arrays received stay intact while later messages arrive into the same receive buffer', async () => {
    const target = { destination: 'com.example.Calc', path: '/com/example/Calc', interface: 'com.example.Calc', member: 'Bytes', signature: 'y' };
    const replies = await Promise.all([1, 2, 3, 4].map((n) => client.call({ ...target, body: [n] })));
    replies.forEach((r, i) => assert.deepEqual([...(r.body[0] as Uint8Array)], new Array(64).fill(i + 1)));
  });

  test('error replies become DBusError with the remote name and body', async () => {
    const calc = (await client.proxy('com.example.Calc', '/com/example/Calc')).getInterface('com.example.Calc');
    await assert.rejects(calc.DivMod(1, 0) as Promise<unknown>, (e: unknown) => e instanceof DBusError && e.name === 'com.example.Calc.DivideByZero' && e.message === 'division by zero' && e.body[0] === 'division by zero');
    await assert.rejects(calc.Fail('broken') as Promise<unknown>, (e: unknown) => e instanceof DBusError && e.name === ErrorNames.Failed && e.message === 'broken');
    await assert.rejects(client.call({ destination: 'com.example.Calc', path: '/com/example/Calc', interface: 'com.example.Calc', member: 'Add', signature: 's', body: ['x'] }),
      (e: unknown) => e instanceof DBusError && e.name === ErrorNames.InvalidArgs && /takes signature 'ii', got 's'/.test(e.message));
    await assert.rejects(client.call({ destination: 'com.example.Calc', path: '/nowhere', interface: 'com.example.Calc', member: 'Add' }), (e: unknown) => e instanceof DBusError && e.name === ErrorNames.UnknownObject);
    await assert.rejects(client.call({ destination: 'com.example.Calc', path: '/com/example/Calc', interface: 'com.example.Other', member: 'X' }), (e: unknown) => e instanceof DBusError && e.name === ErrorNames.UnknownInterface);
    await assert.rejects(client.call({ destination: 'com.example.Calc', path: '/com/example/Calc', interface: 'com.example.Calc', member: 'Nope' }), (e: unknown) => e instanceof DBusError && e.name === ErrorNames.UnknownMethod);
    await assert.rejects(client.call({ destination: 'com.example.NoSuchName', path: '/', member: 'X' }), (e: unknown) => e instanceof DBusError && e.name === ErrorNames.ServiceUnknown);
  });

  test('a call without a reply in time rejects with TimeoutError and is no longer pending', async () => {
    const t = client.call({ destination: 'com.example.Calc', path: '/com/example/Calc', interface: 'com.example.Calc', member: 'Never' }, { timeoutMs: 50 });
    assert.equal(client.pendingCalls, 1);
    await assert.rejects(t, (e: unknown) => e instanceof TimeoutError && e.timeoutMs === 50 && /com.example.Calc.Never/.test(e.message));
    assert.equal(client.pendingCalls, 0);
  });

  test('calls under the connection-wide default timeout expire in order, and the others still get replies', async () => {
    const c = await connect(daemon.address, { timeoutMs: 100 });
    try {
      const target = { destination: 'com.example.Calc', path: '/com/example/Calc', interface: 'com.example.Calc' };
      const expired: number[] = [];
      // Each outcome is taken at once (the first two may expire while the Add below is under way).
      const never = (i: number): Promise<unknown> => c.call({ ...target, member: 'Never' }).then(() => 'answered', (e: unknown) => {
        expired.push(i);
        return e;
      });
      // Its own timeout, longer than the default: not one of the default's calls.
      const own = c.call({ ...target, member: 'Never' }, { timeoutMs: 60_000 });
      own.catch(() => {});
      // Two made in one turn, one after a round trip (a later deadline).
      const calls = [never(0), never(1)];
      // Its own generous timeout: only the Never calls may depend on the 100 ms default.
      const sum = await c.call({ ...target, member: 'Add', signature: 'ii', body: [1, 2] }, { timeoutMs: 60_000 });
      assert.deepEqual(sum.body, [3]);
      calls.push(never(2));
      for (const n of calls) {
        const e = await n;
        assert.ok(e instanceof TimeoutError && e.timeoutMs === 100, String(e));
      }
      assert.deepEqual(expired, [0, 1, 2], 'they expired in the order they were made');
      assert.equal(c.pendingCalls, 1, 'the call with its own timeout is still pending');
      assert.deepEqual((await c.call({ ...target, member: 'Add', signature: 'ii', body: [2, 3] }, { timeoutMs: 60_000 })).body, [5]);
      await assert.rejects(c.call({ ...target, member: 'Never' }), TimeoutError);
    } finally {
      c.close();
    }
  });

  test('an aborted call rejects with AbortError and is no longer pending', async () => {
    const ac = new AbortController();
    const t = client.call({ destination: 'com.example.Calc', path: '/com/example/Calc', interface: 'com.example.Calc', member: 'Never' }, { signal: ac.signal });
    ac.abort(new Error('user gave up'));
    await assert.rejects(t, (e: unknown) => e instanceof AbortError && (e.cause as Error).message === 'user gave up');
    assert.equal(client.pendingCalls, 0);
    await assert.rejects(client.call({ destination: 'com.example.Calc', path: '/', member: 'Never' }, { signal: AbortSignal.abort() }), AbortError);
  });

  test('values that do not fit the signature are refused before anything is sent', async () => {
    await assert.rejects(client.call({ destination: 'com.example.Calc', path: '/com/example/Calc', interface: 'com.example.Calc', member: 'Add', signature: 'ii', body: [1, 'two'] }), (e: unknown) => e instanceof TypeError && /int32/.test(e.message));
    assert.equal(client.pendingCalls, 0);
    assert.equal(await (await client.proxy('com.example.Calc', '/com/example/Calc')).getInterface('com.example.Calc').Add(1, 1), 2);
  });

  test('signals reach a subscriber once the rule is installed, and the rule is removed when the last subscriber leaves', async () => {
    const calc = (await client.proxy('com.example.Calc', '/com/example/Calc')).getInterface('com.example.Calc');
    const before = await matchRuleCount(client);
    const got: number[] = [];
    let resolveThree!: () => void;
    const three = new Promise<void>((r) => (resolveThree = r));
    const s1 = await calc.on('Tick', (n: number) => {
      got.push(n);
      if (got.length === 3) resolveThree();
    });
    const s2 = await calc.on('Tick', () => undefined);
    assert.equal(client.matchRules.get(s1.rule), 2);
    // One rule for Tick (counted twice locally) plus one that follows the owner of com.example.Calc.
    await assertBusRules(client, before === undefined ? undefined : before + 2);
    await calc.Storm(3);
    await three;
    assert.deepEqual(got, [0, 1, 2]);
    await s1.close();
    await assertBusRules(client, before === undefined ? undefined : before + 2);
    await s2.close();
    await s2.close();
    await assertBusRules(client, before);
    assert.equal(client.matchRules.has(s1.rule), false);
  });

  test('subscriptions to two members of one interface and to the whole interface each get their signals, and closing one leaves the others', async () => {
    const emit = (member: string, n: number): void => void service.emitSignal('/com/example/Calc', 'com.example.Calc', member, 'u', [n]);
    const ticks: number[] = [], tocks: number[] = [], all: string[] = [];
    const seen = new Map<string, () => void>();
    const heard = (what: string): Promise<void> => new Promise((r) => seen.set(what, r));
    const s1 = await client.subscribe({ interface: 'com.example.Calc', member: 'Tick' }, (m) => ticks.push(m.body[0] as number));
    const s2 = await client.subscribe({ interface: 'com.example.Calc', member: 'Tock' }, (m) => tocks.push(m.body[0] as number));
    const s3 = await client.subscribe({ interface: 'com.example.Calc' }, (m) => {
      const what = `${m.member}${m.body[0] as number}`;
      all.push(what);
      seen.get(what)?.();
    });
    const first = heard('Tack0');
    emit('Tick', 1);
    emit('Tock', 2);
    emit('Tack', 0);
    await first;
    await s1.close();
    const done = heard('Tock4');
    emit('Tick', 3);
    emit('Tock', 4);
    await done;
    assert.deepEqual(ticks, [1]);
    assert.deepEqual(tocks, [2, 4]);
    assert.deepEqual(all, ['Tick1', 'Tock2', 'Tack0', 'Tick3', 'Tock4']);
    await s2.close();
    await s3.close();
  });

  test('a signal storm into a bounded iterator keeps the newest items and counts the dropped ones', async () => {
    const calc = (await client.proxy('com.example.Calc', '/com/example/Calc')).getInterface('com.example.Calc');
    const it = await calc.signals('Tick', { capacity: 10 });
    // Signals emitted before the reply travel ahead of it through the bus.
    await calc.Storm(1000);
    assert.equal(it.length, 10);
    assert.equal(it.dropped, 990);
    const first = await it.next();
    assert.deepEqual((first.value as { body: unknown[] }).body, [990]);
    let last = -1;
    for await (const m of it) {
      last = m.body[0] as number;
      if (last === 999) break;
    }
    assert.equal(last, 999);
    assert.equal(client.matchRules.size, 0);
  });

  test('an iterator ends with AbortError when its signal aborts', async () => {
    const ac = new AbortController();
    const it = await client.signals({ interface: 'com.example.Calc', member: 'Tick' }, { signal: ac.signal });
    const next = it.next();
    ac.abort();
    await assert.rejects(next, AbortError);
  });

  test('the standard interfaces answer: Introspect (with child nodes), Peer, Properties.GetAll', async () => {
    const root = await client.introspect('com.example.Calc', '/com', { fresh: true });
    assert.deepEqual(root.nodes.map((n) => n.name), ['example']);
    const [id] = await client.callMethod({ destination: 'com.example.Calc', path: '/', interface: 'org.freedesktop.DBus.Peer', member: 'GetMachineId' });
    assert.match(id as string, /^[0-9a-f]{32}$/);
    await client.callMethod({ destination: 'com.example.Calc', path: '/any/path', interface: 'org.freedesktop.DBus.Peer', member: 'Ping' });
  });

  test('property changes are announced with PropertiesChanged and seen by watchProperty', async () => {
    const calc = (await client.proxy('com.example.Calc', '/com/example/Calc')).getInterface('com.example.Calc');
    let seenValue!: (v: unknown) => void;
    const seen = new Promise<unknown>((resolve) => (seenValue = resolve));
    const sub = await calc.watchProperty('Label', seenValue);
    impl.Label = 'changed';
    exported.propertiesChanged(['Label']);
    assert.equal(await seen, 'changed');
    await sub.close();
  });

  test('ObjectManager lists objects below it and announces added interfaces', async () => {
    service.exportObjectManager('/com/example/Managed');
    const Thing = defineInterface({ name: 'com.example.Thing', properties: { Id: { type: 'u' } } });
    const it = await client.signals({ sender: service.uniqueName, interface: 'org.freedesktop.DBus.ObjectManager', member: 'InterfacesAdded' });
    const t = service.export('/com/example/Managed/t1', Thing, { Id: 1 });
    const added = (await it.next()).value!;
    assert.deepEqual([added.body[0], (added.body[1] as Record<string, Record<string, Variant>>)['com.example.Thing'].Id.value], ['/com/example/Managed/t1', 1]);
    const [objects] = await client.callMethod({ destination: service.uniqueName, path: '/com/example/Managed', interface: 'org.freedesktop.DBus.ObjectManager', member: 'GetManagedObjects' });
    assert.deepEqual(Object.keys(objects as object), ['/com/example/Managed/t1']);
    t.unexport();
    await it.return();
  });

  test('name ownership: acquired, queued, lost to a replacement', async () => {
    const a = await connect(daemon.address);
    const b = await connect(daemon.address);
    try {
      const acquired = new Promise((r) => a.once('name-acquired', r));
      assert.equal(await a.requestName('com.example.Owned', NameFlags.ALLOW_REPLACEMENT), RequestNameReply.PRIMARY_OWNER);
      assert.equal(await acquired, 'com.example.Owned');
      assert.equal(await b.requestName('com.example.Owned'), RequestNameReply.IN_QUEUE);
      const lost = new Promise((r) => a.once('name-lost', r));
      assert.equal(await b.requestName('com.example.Owned', NameFlags.REPLACE_EXISTING), RequestNameReply.PRIMARY_OWNER);
      assert.equal(await lost, 'com.example.Owned');
      assert.equal(await a.getNameOwner('com.example.Owned'), b.uniqueName);
      assert.equal(await b.releaseName('com.example.Owned'), 1);
    } finally {
      a.close();
      b.close();
    }
  });

  test('a subscription to a well-known sender follows the name to its new owner', async () => {
    const a = await connect(daemon.address);
    const b = await connect(daemon.address);
    try {
      await a.requestName('com.example.Moving', NameFlags.ALLOW_REPLACEMENT);
      const it = await client.signals({ sender: 'com.example.Moving', interface: 'com.example.Moving', member: 'Hi' });
      a.emitSignal('/m', 'com.example.Moving', 'Hi', 's', ['from a']);
      assert.deepEqual((await it.next()).value!.body, ['from a']);
      await b.requestName('com.example.Moving', NameFlags.REPLACE_EXISTING);
      // The owner change reaches the client before anything b sends after taking the name.
      await client.getNameOwner('com.example.Moving');
      b.emitSignal('/m', 'com.example.Moving', 'Hi', 's', ['from b']);
      a.emitSignal('/m', 'com.example.Moving', 'Hi', 's', ['from a, no longer the owner']);
      b.emitSignal('/m', 'com.example.Moving', 'Hi', 's', ['from b again']);
      assert.deepEqual((await it.next()).value!.body, ['from b']);
      assert.deepEqual((await it.next()).value!.body, ['from b again']);
      await it.return();
    } finally {
      a.close();
      b.close();
    }
  });

  test('calls pending when the callee disconnects get NoReply; the caller closing rejects them with DisconnectedError', async () => {
    const callee = await connect(daemon.address);
    callee.export('/x', Calc, impl);
    const c = await connect(daemon.address);
    const p1 = c.call({ destination: callee.uniqueName, path: '/x', interface: 'com.example.Calc', member: 'Never' });
    // Make sure the call reached the callee before it leaves.
    await c.call({ destination: callee.uniqueName, path: '/x', interface: 'com.example.Calc', member: 'Slow' });
    callee.close();
    await assert.rejects(p1, (e: unknown) => e instanceof DBusError && e.name === ErrorNames.NoReply);
    const p2 = c.call({ destination: 'com.example.Calc', path: '/com/example/Calc', interface: 'com.example.Calc', member: 'Never' });
    const it = await c.signals({ interface: 'com.example.Calc', member: 'Tick' });
    const closed = new Promise((r) => c.once('close', r));
    c.close();
    await assert.rejects(p2, (e: unknown) => e instanceof DisconnectedError && /connection closed/.test(e.message));
    assert.equal((await it.next()).done, true);
    await closed;
    assert.throws(() => c.send({ type: 1, path: '/', member: 'X' }), DisconnectedError);
  });

  test('diagnostics channels report sent and received messages and calls, only to subscribers', async () => {
    type Report = { connection: Connection; message: { member?: string; serial?: number; replySerial?: number }; durationMs?: number; reply?: { body: unknown[] } };
    const seen: Record<'send' | 'receive' | 'end', Report[]> = { send: [], receive: [], end: [] };
    const handlers = {
      'fastbus:client:send': (m: unknown): void => void seen.send.push(m as Report),
      'fastbus:client:receive': (m: unknown): void => void seen.receive.push(m as Report),
      'fastbus:client:call:end': (m: unknown): void => void seen.end.push(m as Report),
    };
    const add = (a: number) => client.call({ destination: 'com.example.Calc', path: '/com/example/Calc', interface: 'com.example.Calc', member: 'Add', signature: 'ii', body: [a, 1] });
    for (const [name, h] of Object.entries(handlers)) diagnostics.subscribe(name, h);
    try {
      await add(1);
    } finally {
      for (const [name, h] of Object.entries(handlers)) diagnostics.unsubscribe(name, h);
    }
    const sent = seen.send.filter((m) => m.connection === client && m.message.member === 'Add');
    assert.equal(sent.length, 1);
    assert.equal(seen.receive.filter((m) => m.connection === client && m.message.replySerial === sent[0].message.serial).length, 1, 'the reply was reported as received');
    assert.equal(seen.end.length, 1);
    assert.equal(seen.end[0].message.member, 'Add');
    assert.deepEqual(seen.end[0].reply?.body, [2]);
    assert.ok(seen.end[0].durationMs! >= 0);
    // Unsubscribed: a further call reaches none of them.
    const counts = JSON.stringify([seen.send.length, seen.receive.length, seen.end.length]);
    await add(2);
    assert.equal(JSON.stringify([seen.send.length, seen.receive.length, seen.end.length]), counts);
    // A call that started unobserved is not reported when it ends under a new subscriber (it was never timed).
    const pending = add(3);
    diagnostics.subscribe('fastbus:client:call:end', handlers['fastbus:client:call:end']);
    try {
      await pending;
    } finally {
      diagnostics.unsubscribe('fastbus:client:call:end', handlers['fastbus:client:call:end']);
    }
    assert.equal(seen.end.length, 1);
  });
});
