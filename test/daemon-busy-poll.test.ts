// `fastbus daemon --busy-poll-us`: a bad value is refused with a clear error,
// and a bus with polling off routes calls and signals like the default bus
// (polling on), which every other daemon test runs against. The daemon asks
// for 100 µs unless told otherwise, and startBroker's busyPollUs sets the
// window of its thread's loop (loopSpinStats counts events only while one is set).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startBroker } from '../src/broker/index.js';
import { parseDaemonArgs } from '../src/cli/daemon.js';
import { connect, defineInterface } from '../src/client/index.js';
import * as native from '../src/native/native.js';
import { CLI, printedAddress, stopDaemon } from './fixtures/bus.js';

const Echo = defineInterface({
  name: 'com.example.Poll',
  methods: { Echo: { in: [{ name: 'n', type: 'u' }], out: [{ name: 'n', type: 'u' }] } },
  signals: { Ticked: { args: [{ name: 'n', type: 'u' }] } },
});

describe('fastbus daemon --busy-poll-us', { timeout: 30000 }, () => {
  for (const bad of ['soon', '-5', '2000000']) {
    it(`refuses '${bad}', naming the option, and does not start`, async () => {
      const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        execFile(process.execPath, [CLI, 'daemon', '--nofork', `--busy-poll-us=${bad}`], (e, _out, err) => resolve({ code: e ? (e.code as number) : 0, stderr: err }));
      });
      assert.notEqual(code, 0);
      assert.match(stderr, /--busy-poll-us: .* is not a number of microseconds/);
    });
  }

  it('routes calls, replies and signals in order with polling off', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fastbus-poll-'));
    const child = spawn(process.execPath, [CLI, 'daemon', '--session', '--nofork', '--print-address', '--busy-poll-us=0', `--address=unix:path=${path.join(dir, 'bus')}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const address = await printedAddress(child, (code) => `the daemon exited with ${code}`);
      const service = await connect(address);
      const caller = await connect(address);
      try {
        const handle = service.export('/com/example/Poll', Echo, { Echo: (n: number) => n });
        await service.requestName('com.example.Poll');
        const proxy = (await caller.proxy('com.example.Poll', '/com/example/Poll')).getInterface('com.example.Poll');
        const ticks: number[] = [];
        let resolveAll = (): void => undefined;
        const all = new Promise<void>((resolve) => (resolveAll = resolve));
        await caller.subscribe({ interface: 'com.example.Poll', member: 'Ticked' }, (m) => {
          ticks.push(m.body[0] as number);
          if (ticks.length === 100) resolveAll();
        });
        const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => proxy.Echo(i) as Promise<number>));
        assert.deepEqual(replies, Array.from({ length: 100 }, (_, i) => i));
        for (let i = 0; i < 100; i++) handle.emit('Ticked', i);
        await all;
        assert.deepEqual(ticks, Array.from({ length: 100 }, (_, i) => i));
      } finally {
        service.close();
        caller.close();
      }
    } finally {
      await stopDaemon(child, dir);
    }
  });
});

describe('busy polling of a bus', { timeout: 30000 }, () => {
  it('is 100 µs in fastbus daemon unless --busy-poll-us says otherwise', () => {
    const polling = (argv: string[]) => {
      const parsed = parseDaemonArgs(argv);
      assert.equal(typeof parsed, 'object');
      return (parsed as Exclude<typeof parsed, string>).busyPollUs;
    };
    assert.deepEqual([polling([]), polling(['--busy-poll-us=0']), polling(['--busy-poll-us', '250'])], [100, 0, 250]);
  });

  /** Starts a bus in this thread, makes `calls` calls to it from a client in this thread, and closes both; the polling stats before the close. */
  async function callThrough(busyPollUs: number | undefined, calls: number): Promise<native.LoopSpinStats> {
    const dir = mkdtempSync(path.join(tmpdir(), 'fastbus-poll-'));
    const bus = await startBroker({ address: `unix:path=${path.join(dir, 'bus')}`, busyPollUs });
    try {
      const client = await connect(bus.address);
      try {
        for (let i = 0; i < calls; i++) await client.busCall('GetId');
        return native.loopSpinStats();
      } finally {
        client.close();
      }
    } finally {
      bus.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('leaves the loop alone in a bus started without busyPollUs', async () => {
    const before = native.loopSpinStats();
    await callThrough(undefined, 20);
    assert.deepEqual(native.loopSpinStats(), before);
  });

  it('keeps the loop polling after the messages a bus started with busyPollUs handles', async () => {
    const before = native.loopSpinStats();
    try {
      // Up to 1 s: each message follows the previous one well within it, so the window opens.
      const after = await callThrough(1_000_000, 20);
      assert.ok(after.windowUs > 0, `window ${after.windowUs} µs`);
      assert.ok(after.caught > before.caught, `no event caught while polling: ${JSON.stringify(after)}`);
    } finally {
      native.loopSpin(0);
    }
  });

  it('stops polling when the bus that turned it on closes', async () => {
    await callThrough(1_000_000, 20);
    const closed = native.loopSpinStats();
    // Messages of a bus without busyPollUs, after the first one closed: nothing polls, nothing is counted.
    await callThrough(undefined, 20);
    assert.deepEqual(native.loopSpinStats(), { ...closed, windowUs: 0 });
  });
});
