// Large messages through a fastbus bus: each is received into a view of its
// exact length on a pooled buffer (reused once every copy of it is written, by
// an echo's reply too) and forwarded without copying its body. Bodies must arrive intact and in order,
// even while earlier ones still wait in a slow reader's queue; thousands of
// pipelined calls and their replies keep their order too. All of it over unix
// and over tcp (where node:net holds the bytes until its write callback).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startBroker, type RunningBroker } from '../src/broker/index.js';
import { connectBus, largeFrames, type MessageStream } from '../src/transport/index.js';
import { decodeMessage, encodeMessage, MessageType, type DecodedMessage, type Message } from '../src/wire/index.js';

const DBUS = { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus' };

interface Peer {
  stream: MessageStream;
  name: string;
  /** Resolves with the next `count` messages that are not from the bus. */
  take(count: number): Promise<DecodedMessage[]>;
}

async function peer(address: string): Promise<Peer> {
  const { stream } = await connectBus(address);
  let wanted = 0;
  let got: DecodedMessage[] = [];
  let done: ((m: DecodedMessage[]) => void) | undefined;
  let helloReply: ((name: string) => void) | undefined;
  stream.onMessage = (f) => {
    const m = decodeMessage(f);
    if (m.sender === 'org.freedesktop.DBus') {
      if (m.replySerial === 1) helloReply?.(m.body[0] as string);
      return;
    }
    got.push(m);
    if (done && got.length === wanted) {
      const d = done;
      done = undefined;
      const out = got;
      got = [];
      d(out);
    }
  };
  stream.resume();
  const name = await new Promise<string>((resolve) => {
    helloReply = resolve;
    stream.send(encodeMessage({ type: MessageType.METHOD_CALL, flags: 0, serial: 1, ...DBUS, member: 'Hello', body: [] }));
  });
  return {
    stream, name,
    take: (count) => new Promise((resolve) => {
      wanted = count;
      done = resolve;
    }),
  };
}

function signalTo(destination: string, serial: number, body: Uint8Array): Uint8Array {
  return encodeMessage({
    type: MessageType.SIGNAL, flags: 0, serial, destination, path: '/t', interface: 'org.example.T', member: 'Bytes', signature: 'ay', body: [body],
  } as Message);
}

/** A call to the bus and its reply: the bus has handled everything `p` sent before. */
function roundTrip(p: Peer): Promise<void> {
  return new Promise<void>((resolve) => {
    const prev = p.stream.onMessage;
    p.stream.onMessage = (f) => {
      if (decodeMessage(f).replySerial === 9999) {
        p.stream.onMessage = prev;
        resolve();
      } else prev?.(f);
    };
    p.stream.send(encodeMessage({ type: MessageType.METHOD_CALL, flags: 0, serial: 9999, ...DBUS, member: 'GetId', body: [] }));
  });
}

/** Checks that every byte of `b` is `fill`, without a per-byte assert. */
function allEqual(b: Uint8Array, fill: number): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== fill) return false;
  return true;
}

for (const transport of ['unix', 'tcp'] as const) describe(`large messages and pipelining on a fastbus bus over ${transport}`, { timeout: 60000 }, () => {
  let bus: RunningBroker;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'fastbus-large-'));
    bus = await startBroker(transport === 'unix'
      ? { address: `unix:path=${path.join(dir, 'bus')}`, log: () => undefined }
      : { address: 'tcp:host=127.0.0.1,port=0', allowAnonymous: true, log: () => undefined });
  });
  after(() => {
    bus.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('delivers large bodies of exact sizes intact and in order, with small ones between, while the receiver is not reading', async () => {
    const a = await peer(bus.address);
    const b = await peer(bus.address);
    // Sizes around the stream's owned-frame threshold (128 KiB), around a pool class, and large.
    const sizes = [0, 130 * 1024, 3, (1 << 20) - 200, 1 << 20, 7, (1 << 20) + 1, 300 * 1024, 2 << 20, 1, 130 * 1024];
    const bodies = sizes.map((n, i) => new Uint8Array(n).fill((i * 37 + 11) & 0xff));
    b.stream.pause();
    const arrived = b.take(sizes.length * 2);
    // Twice over: the second round reuses buffers the first round gave back.
    for (let round = 0; round < 2; round++) {
      bodies.forEach((body, i) => a.stream.send(signalTo(b.name, round * 100 + i + 1, body)));
      // A small call to the bus after each round: its reply proves the bus read the whole round.
      await roundTrip(a);
    }
    b.stream.resume();
    const got = await arrived;
    assert.equal(got.length, sizes.length * 2);
    got.forEach((m, k) => {
      const i = k % sizes.length;
      assert.equal(m.serial, Math.floor(k / sizes.length) * 100 + i + 1, `message ${k} out of order`);
      assert.equal(m.sender, a.name);
      const body = m.body[0] as Uint8Array;
      assert.equal(body.length, sizes[i], `message ${k}: length`);
      assert.ok(allEqual(body, (i * 37 + 11) & 0xff), `message ${k}: body bytes changed on the way`);
    });
    a.stream.close();
    b.stream.close();
  });

  it('keeps order under pipelining: 3000 calls sent at once reach the callee in order, and every reply comes back in order', async () => {
    const caller = await peer(bus.address);
    const callee = await peer(bus.address);
    const n = 3000;
    const calls = callee.take(n);
    for (let i = 1; i <= n; i++) {
      caller.stream.send(encodeMessage({
        type: MessageType.METHOD_CALL, flags: 0, serial: 10 + i, destination: callee.name, path: '/t', interface: 'org.example.T', member: 'Echo', signature: 'u', body: [i],
      } as Message));
    }
    const got = await calls;
    assert.deepEqual(got.map((m) => m.body[0]), Array.from({ length: n }, (_, i) => i + 1));
    // Replies in reverse order for the first half (a callee may answer in any order), then in order.
    const replies = caller.take(n);
    const order = [...got.slice(0, n / 2).reverse(), ...got.slice(n / 2)];
    for (const m of order) {
      callee.stream.send(encodeMessage({
        type: MessageType.METHOD_RETURN, flags: 0, serial: 100000 + m.serial, destination: caller.name, replySerial: m.serial, signature: 'u', body: [m.body[0] as number],
      } as Message));
    }
    const back = await replies;
    assert.deepEqual(back.map((m) => m.replySerial), order.map((m) => m.serial));
    // A second reply to the same call is not a reply to a pending call: the bus drops it. The marker
    // follows it on the callee's socket, so the bus routes it after the late reply: it arrives first only if that is dropped.
    const late = caller.take(1);
    callee.stream.send(encodeMessage({ type: MessageType.METHOD_RETURN, flags: 0, serial: 999999, destination: caller.name, replySerial: got[0].serial, body: [] } as Message));
    callee.stream.send(encodeMessage({ type: MessageType.SIGNAL, flags: 0, serial: 1000000, destination: caller.name, path: '/t', interface: 'org.example.T', member: 'Marker', body: [] } as Message));
    assert.equal((await late)[0].member, 'Marker');
    caller.stream.close();
    callee.stream.close();
  });

  // Over tcp a frame goes back to the pool in node:net's write callback, which may run after the reply arrived.
  if (transport === 'unix') it('receives the reply of an echo into the buffer its call left, though their lengths differ', async () => {
    const caller = await peer(bus.address);
    const callee = await peer(bus.address);
    largeFrames.clear();
    for (let i = 1; i <= 3; i++) {
      const calls = callee.take(1);
      caller.stream.send(encodeMessage({
        type: MessageType.METHOD_CALL, flags: 0, serial: i, destination: callee.name, path: '/t', interface: 'org.example.T', member: 'EchoBytes', signature: 'ay', body: [new Uint8Array(1 << 20).fill(i)],
      } as Message));
      const [call] = await calls;
      const replies = caller.take(1);
      // The reply's header is shorter than the call's: a frame of another length.
      callee.stream.send(encodeMessage({
        type: MessageType.METHOD_RETURN, flags: 0, serial: i, destination: caller.name, replySerial: call.serial, signature: 'ay', body: [call.body[0] as Uint8Array],
      } as Message));
      const [reply] = await replies;
      assert.ok(allEqual(reply.body[0] as Uint8Array, i));
    }
    // Six large frames went through the bus, one at a time: one buffer (of the 2 MiB class) served them all.
    assert.equal(largeFrames.idleSizeBytes, 2 << 20);
    caller.stream.close();
    callee.stream.close();
  });

  it('keeps the large-message pool bounded and gives buffers back once written', async () => {
    const a = await peer(bus.address);
    const b = await peer(bus.address);
    largeFrames.clear();
    const body = new Uint8Array(1 << 20).fill(5);
    for (let i = 1; i <= 4; i++) {
      const got = b.take(1);
      a.stream.send(signalTo(b.name, i, body));
      const [m] = await got;
      assert.ok(allEqual(m.body[0] as Uint8Array, 5));
    }
    await roundTrip(b);
    // The bus's last frame went back to the pool (this process holds the bus).
    assert.ok(largeFrames.idleSizeBytes > 0, 'the frame was given back once written');
    assert.ok(largeFrames.idleSizeBytes <= 64 * 1024 * 1024);
    a.stream.close();
    b.stream.close();
  });
});
