// The direct path's limits (docs/direct.md, "Where it falls back"): the bus
// grants no channel that would take one process past `maxPerProcess` channel
// ends, however many connections it opens (each end costs the process fds and
// mappings; the soak's one process of 1000 clients ran out of both), and
// grants again once one of its channels closed. The clients here are
// connections of this process, on a bus in this process.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startBroker, type RunningBroker } from '../src/broker/index.js';
import { connect, defineInterface, type Connection } from '../src/client/index.js';
import { DIRECT_INTERFACE } from '../src/names/index.js';

const Echo = defineInterface({ name: 'org.fastbus.Test.Echo', methods: { EchoString: { in: 's', out: 's' } } });

function echo(from: Connection, to: Connection, text: string): Promise<unknown[]> {
  return from.callMethod({ destination: to.uniqueName, path: '/echo', interface: Echo.name, member: 'EchoString', signature: 's', body: [text] });
}

/** Calls until `a` talks to `b` on a channel, at most `max` calls; whether it does. */
async function callUntilDirect(a: Connection, b: Connection, max: number): Promise<boolean> {
  for (let i = 0; i < max && !a.isDirect(b.uniqueName); i++) assert.deepEqual(await echo(a, b, `call ${i}`), [`call ${i}`]);
  return a.isDirect(b.uniqueName);
}

describe('direct-path limits on a fastbus bus', () => {
  let dir: string;
  let bus: RunningBroker;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'fastbus-direct-limits-'));
    bus = await startBroker({ address: `unix:path=${path.join(dir, 'bus')}`, direct: { maxPerProcess: 4 }, log: () => undefined });
  });
  after(() => {
    bus.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('grants no channel that would take a process past maxPerProcess channel ends, and grants again once one closed', { timeout: 60000 }, async () => {
    const conns = await Promise.all(Array.from({ length: 6 }, () => connect(bus.address)));
    for (const c of conns) c.export('/echo', Echo, { EchoString: (s: string) => s });
    const [a0, b0, a1, b1, a2, b2] = conns;
    assert.equal(await callUntilDirect(a0, b0, 200), true, 'the first pair has a channel (2 of 4 ends)');
    assert.equal(await callUntilDirect(a1, b1, 200), true, 'the second pair has a channel (4 of 4 ends)');
    assert.equal(await callUntilDirect(a2, b2, 200), false, 'the third pair stays on the bus');
    const [pairs] = await a2.callMethod({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: DIRECT_INTERFACE, member: 'ListPairs' });
    assert.equal((pairs as unknown[]).length, 2, 'the bus lists two channels');
    a0.close();
    b0.close();
    assert.equal(await callUntilDirect(a2, b2, 200), true, 'the third pair has a channel once the first pair left');
    for (const c of [a1, b1, a2, b2]) c.close();
  });
});
