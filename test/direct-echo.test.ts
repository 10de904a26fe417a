// The direct path's data path with real processes: a pair with busy-polling
// channels answers awaited calls (a reply resolved through a promise is sent
// and read, turn after turn), and large bodies (16 MiB `ay`) travel the
// channel's large-payload path both ways, unaltered and in order.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { receivePool } from '../src/channel/receive-pool.js';
import { connect, type Connection } from '../src/client/index.js';
import { FIXTURES, startBus, type TestBus } from './fixtures/bus.js';

const ECHO = path.join(FIXTURES, '..', '..', 'dist', 'test', 'fixtures', 'direct-echo.js');
const IFACE = 'org.fastbus.Test.Echo';

/** Starts the echo service; resolves with its unique name once it serves. */
function startEcho(bus: TestBus, busy: boolean, children: Set<ChildProcess>): Promise<string> {
  const child = spawn(process.execPath, [ECHO, bus.address, busy ? '1' : '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    child.once('exit', (code) => reject(new Error(`echo service exited (${code}) before serving`)));
  });
}

function call(c: Connection, dest: string, member: string, signature: string, body: unknown[]): Promise<unknown> {
  return c.callMethod({ destination: dest, path: '/echo', interface: IFACE, member, signature, body }, { timeoutMs: 60000 });
}

/** Calls until the pair has switched to its channel (the bus grants after a few messages). */
async function untilDirect(c: Connection, dest: string): Promise<void> {
  for (let i = 0; i < 200 && !c.isDirect(dest); i++) await call(c, dest, 'EchoString', 's', ['switch']);
  assert.equal(c.isDirect(dest), true, 'the pair switched to a channel');
}

/** A body whose every byte depends on its position and on `seed`, so that a reorder or a stale byte shows. */
function pattern(size: number, seed: number): Uint8Array {
  const b = new Uint8Array(size);
  const w = new Uint32Array(b.buffer, 0, size >> 2);
  for (let i = 0; i < w.length; i++) w[i] = (Math.imul(i, 2654435761) ^ seed) >>> 0;
  for (let i = w.length * 4; i < size; i++) b[i] = (i ^ seed) & 0xff;
  return b;
}

for (const busy of [false, true]) {
  describe(`the direct path's data path${busy ? ' with busy-polling channels' : ''}`, () => {
    let bus: TestBus;
    let client: Connection;
    let echo: string;
    const children = new Set<ChildProcess>();

    before(async () => {
      bus = await startBus('fastbus');
      echo = await startEcho(bus, busy, children);
      client = await connect(bus.address, { direct: 'auto', directBusy: busy });
      await untilDirect(client, echo);
    });
    after(async () => {
      try {
        client?.close();
      } finally {
        const exits = [...children].map((c) => new Promise((r) => c.once('exit', r)));
        for (const c of children) c.kill('SIGKILL');
        await Promise.all(exits);
        await bus?.stop();
      }
    });

    it('answers awaited calls one after another on the channel', { timeout: 120000 }, async () => {
      const [before] = (await call(client, echo, 'Received', 's', [client.uniqueName])) as [number];
      const count = 200;
      for (let i = 0; i < count; i++) assert.deepEqual(await call(client, echo, 'EchoString', 's', [`call ${i}`]), [`call ${i}`]);
      const [afterCount] = (await call(client, echo, 'Received', 's', [client.uniqueName])) as [number];
      assert.equal(afterCount - before, count + 1, 'every call went on the channel');
    });

    it('round-trips 16 MiB bodies on the channel, unaltered and in order', { timeout: 120000 }, async () => {
      const size = 16 << 20;
      const [before] = (await call(client, echo, 'Received', 's', [client.uniqueName])) as [number];
      // Three at once, then one more: each reply matches its own call.
      const sent = [1, 2, 3].map((seed) => pattern(size + seed, seed));
      const replies = (await Promise.all(sent.map((b) => call(client, echo, 'EchoBytes', 'ay', [b])))) as Array<[Uint8Array]>;
      replies.forEach(([back], i) => assert.ok(Buffer.from(back).equals(Buffer.from(sent[i])), `reply ${i} is its call's body, unaltered`));
      assert.equal(new Set(replies.map(([back]) => back.buffer)).size, 3, 'each reply owns its memory');
      replies[0][0].fill(0);
      assert.ok(Buffer.from(replies[1][0]).equals(Buffer.from(sent[1])), 'changing one reply leaves the others alone');
      const last = pattern(size, 4);
      const [back] = (await call(client, echo, 'EchoBytes', 'ay', [last])) as [Uint8Array];
      assert.ok(Buffer.from(back).equals(Buffer.from(last)));
      // Replies are decoded in place in memory the client owns (the receive pool): later messages leave them alone.
      assert.ok(Buffer.from(replies[1][0]).equals(Buffer.from(sent[1])) && Buffer.from(replies[2][0]).equals(Buffer.from(sent[2])), 'held replies unaltered by the later call');
      const [afterCount] = (await call(client, echo, 'Received', 's', [client.uniqueName])) as [number];
      assert.equal(afterCount - before, 5, 'the large calls went on the channel');
      assert.equal(client.isDirect(echo), true);
    });

    it('round-trips a body of nearly 64 MiB (past the arena: by cross-memory attach or a memfd) on the channel, unaltered', { timeout: 120000 }, async () => {
      const body = pattern((64 << 20) - 64, 5);
      const lends = receivePool.stats.lends;
      const [back] = (await call(client, echo, 'EchoBytes', 'ay', [body])) as [Uint8Array];
      assert.ok(Buffer.from(back).equals(Buffer.from(body)));
      assert.equal(receivePool.stats.lends - lends, 1, 'the reply landed in the receive pool and was decoded there');
      assert.equal(client.isDirect(echo), true);
    });
  });
}
