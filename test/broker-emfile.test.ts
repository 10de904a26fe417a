// A bus out of file descriptors (EMFILE at accept): fastbus daemon runs under
// a low RLIMIT_NOFILE (prlimit) and clients connect until it cannot accept.
// It says so once, keeps answering the clients it has, and once some of them
// leave, the client waiting in the backlog and then a new one get in.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { MessageType } from '../src/wire/index.js';
import { startBus, type TestBus } from './fixtures/bus.js';
import { DBUS, raw, type Raw } from './fixtures/raw-client.js';

/** Enough for Node and the bus to start, and for some tens of clients (each holds a socket and a pidfd). */
const NOFILE = 64;

function prlimitMissing(): string | false {
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'prlimit (util-linux) is not installed: the bus cannot be started with a low RLIMIT_NOFILE';
  }
}

describe('fastbus daemon out of file descriptors', { timeout: 60000, skip: prlimitMissing() }, () => {
  let bus: TestBus;
  const clients: Raw[] = [];
  before(async () => {
    bus = await startBus('fastbus', undefined, true, { wrapper: ['prlimit', `--nofile=${NOFILE}:${NOFILE}`] });
  });
  after(async () => {
    for (const c of clients) c.stream.close();
    await bus?.stop();
  });

  it('logs once that it cannot accept, keeps serving its clients, and lets the waiting client and a new one in once fds are freed', async () => {
    const full = bus.waitForLog(/cannot accept connections: accept failed: EMFILE/);
    // Connect one client at a time until the bus says it cannot accept: that client waits in the backlog.
    let waiting: Promise<Raw> | undefined;
    for (let i = 0; i < NOFILE && waiting === undefined; i++) {
      const next = raw(bus.address);
      const first = await Promise.race([next, full.then(() => 'full' as const)]);
      if (first === 'full') waiting = next;
      else clients.push(first);
    }
    assert.ok(waiting, `the bus took ${clients.length} clients and never ran out of fds`);
    assert.ok(clients.length > 0);
    // The bus still answers the clients it has.
    for (const c of clients) assert.equal((await c.call({ ...DBUS, member: 'GetId' })).type, MessageType.METHOD_RETURN);
    // Some leave: the waiting client gets in, then a new one.
    const leaving = clients.splice(0, 3);
    for (const c of leaving) c.stream.close();
    const admitted = await waiting;
    clients.push(admitted);
    assert.match(admitted.name, /^:1\.\d+$/);
    const fresh = await raw(bus.address);
    clients.push(fresh);
    assert.match(fresh.name, /^:1\.\d+$/);
    for (const c of [admitted, fresh, clients[0]]) assert.equal((await c.call({ ...DBUS, member: 'GetId' })).type, MessageType.METHOD_RETURN);
    await bus.waitForLog(/accepting connections again after \d+ ms/);
    assert.equal(bus.log.filter((l) => /cannot accept connections/.test(l)).length, 1, bus.log.join('\n'));
  });
});
