// Faults of the direct path with real processes (docs/faults.md): a grant that
// reaches a peer after the other end is gone is declined, and the peer goes
// on serving and switching to new channels on the fd numbers it freed (before:
// its pollers outlived the fds they watched, and libuv refused the reused
// numbers with EEXIST, then aborted the process); and a channel whose socket
// breaks under two live peers in full flood ends as a revoked one does (its
// rings still serve): the pair goes on through the bus, losing, repeating and
// reordering nothing, and is granted a new channel.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { connect, type Connection } from '../src/client/index.js';
import { DIRECT_INTERFACE } from '../src/names/index.js';
import { FIXTURES, startBus, type TestBus } from './fixtures/bus.js';
import { Peers } from './fixtures/direct-peers.js';

const ECHO = path.join(FIXTURES, '..', '..', 'dist', 'test', 'fixtures', 'direct-echo.js');
const ECHO_IFACE = 'org.fastbus.Test.Echo';

/** Resolves once `child` is stopped (SIGSTOP taken: its state in /proc is T). */
async function stopped(child: ChildProcess): Promise<void> {
  child.kill('SIGSTOP');
  while (!/^\d+ \(.*\) T /.test(readFileSync(`/proc/${child.pid}/stat`, 'utf8'))) await new Promise((r) => setImmediate(r));
}

function echo(c: Connection, dest: string, text: string): Promise<unknown[]> {
  return c.callMethod({ destination: dest, path: '/echo', interface: ECHO_IFACE, member: 'EchoString', signature: 's', body: [text] }, { timeoutMs: 60000 });
}

async function pairs(driver: Connection): Promise<string[]> {
  const [list] = await driver.callMethod({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: DIRECT_INTERFACE, member: 'ListPairs' });
  return (list as [string, string, string][]).map(([a, b, state]) => `${a} ${b} ${state}`);
}

describe('direct-path faults with real processes', () => {
  let bus: TestBus;
  let driver: Connection;
  let peers: Peers;
  const children = new Set<ChildProcess>();

  before(async () => {
    bus = await startBus('fastbus');
    driver = await connect(bus.address, { direct: 'off' });
    peers = new Peers(bus, () => driver);
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await peers.stopAll();
    driver.close();
    await bus.stop();
  });

  it('declines a grant whose other end died before it could attach, and goes on serving and switching on the fds it freed', { timeout: 120000 }, async () => {
    const child = spawn(process.execPath, [ECHO, bus.address, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(child);
    const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(`${code ?? signal}`)));
    const echoName = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
      });
      child.once('exit', (code) => reject(new Error(`echo service exited (${code}) before serving`)));
    });
    for (let round = 0; round < 4; round++) {
      // The grant waits in the stopped service's socket while its other end dies.
      await stopped(child);
      const caller = await peers.start('auto');
      await caller.call('Burst', 'su', [echoName, 8]);
      assert.ok((await pairs(driver)).includes(`${caller.name} ${echoName} offered`), 'the bus granted the pair a channel');
      const callerExit = new Promise((r) => caller.child.once('exit', r));
      caller.child.kill('SIGKILL');
      await callerExit;
      // The service reads the grant before this call: its end cannot attach (EPIPE), and it declines.
      child.kill('SIGCONT');
      assert.deepEqual(await echo(driver, echoName, `round ${round}`), [`round ${round}`], 'the service answers through the bus');
      // A new pair: the service's new channel gets the fd numbers the declined one freed.
      const c = await connect(bus.address);
      for (let i = 0; i < 200 && !c.isDirect(echoName); i++) assert.deepEqual(await echo(c, echoName, `${round}.${i}`), [`${round}.${i}`]);
      assert.equal(c.isDirect(echoName), true, 'a new pair switched to a channel');
      for (let i = 0; i < 20; i++) assert.deepEqual(await echo(c, echoName, `direct ${i}`), [`direct ${i}`]);
      c.close();
    }
    assert.equal(child.exitCode, null, 'the service is still running');
    child.kill('SIGTERM');
    assert.equal(await exited, '0');
  });

  it('falls back to the bus when a switched pair\'s channel socket breaks while both live, then takes a new channel: every call answered, every call and signal once and in order', { timeout: 120000 }, async () => {
    const grants = async (): Promise<number> => {
      const [m] = await driver.callMethod({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus.Debug.Stats', member: 'GetStats' });
      return (m as Record<string, { value: number }>).DirectGrants.value;
    };
    const [a, b] = await Promise.all([peers.start('auto'), peers.start('auto')]);
    await a.call('WatchTicks', 's', [b.name]);
    await b.call('WatchTicks', 's', [a.name]);
    // Calls both ways, one number in five a Tick signal instead, 16 calls in flight each way.
    await Promise.all([a.call('FloodOn', 'suu', [b.name, 16, 5]), b.call('FloodOn', 'suu', [a.name, 16, 5])]);
    const direct = (): Promise<unknown> => Promise.all([a.call('WaitDirect', 's', [b.name]), b.call('WaitDirect', 's', [a.name])]);
    const sent = async (): Promise<void> => {
      const [[markA], [markB]] = await Promise.all([a.call('Mark'), b.call('Mark')]) as [[number], [number]];
      await Promise.all([a.call('WaitSent', 'u', [markA + 500]), b.call('WaitSent', 'u', [markB + 500])]);
    };
    await direct();
    await sent();
    const grantsBefore = await grants();
    // One end's channel socket is shut down under the flood; both processes, the rings and the bus connections go on.
    assert.deepEqual(await a.call('BreakChannels'), [1]);
    await sent();
    // The pair went back to the bus (the broken channel revoked), and the bus grants it a new channel.
    await direct();
    await sent();
    assert.ok(await grants() > grantsBefore, 'the pair was granted a new channel');
    const [[errorsA, lastA], [errorsB, lastB]] = await Promise.all([a.call('FloodOff'), b.call('FloodOff')]) as [[number, number], [number, number]];
    assert.deepEqual([errorsA, errorsB], [0, 0], 'every call was answered');
    for (const [to, from, last] of [[b, a, lastA], [a, b, lastB]] as const) {
      const [received, disorder] = await to.call('Stats', 's', [from.name]);
      assert.equal(received, last, `${to.name} got every one of ${from.name}'s ${last} calls and ticks`);
      assert.equal(disorder, 0, `${to.name} got ${from.name}'s messages once each, in order`);
    }
    const [handled] = await b.call('Handled') as [number[]];
    assert.equal(handled.length + Math.floor(lastA / 5), lastA, `${b.name} answered each of ${a.name}'s calls once`);
  });
});
