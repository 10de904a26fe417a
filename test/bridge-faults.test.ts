// The bridge when parts of the fleet go away, on a three-node NATS cluster on
// loopback: an exporting bridge stopped (SIGTERM: it drains) or killed
// (SIGKILL) in the middle of a flood of calls, and a NATS node killed under
// the importing bridge. Exporting bridges run as `fastbus bridge` processes;
// buses are fastbus, through the library. Kills are triggered by the service
// seeing its Nth call, and every wait is on an event.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, DBusError, ErrorNames, type Connection } from '../src/client/index.js';
import { startBridge, type Bridge } from '../src/bridge/index.js';
import { startNatsCluster, type NatsCluster } from './fixtures/nats.js';
import { flood, spawnBridge, startLocalBus, startService, untilServed, type BridgeProcess, type LocalBus, type Outcome, type TestService } from './fixtures/bridge.js';

const NAME = 'com.example.Echo';

describe('the bridge when an exporter or a NATS node goes away', { timeout: 90000 }, () => {
  let cluster: NatsCluster;
  let busA: LocalBus;
  let busB1: LocalBus;
  let busB2: LocalBus;
  let svc1: TestService;
  let svc2: TestService;
  let importer: Bridge | undefined;
  let caller: Connection | undefined;
  let exporters: BridgeProcess[] = [];

  before(async () => {
    busA = await startLocalBus();
    busB1 = await startLocalBus();
    busB2 = await startLocalBus();
    svc1 = await startService(busB1.address, [NAME], '/com/example/Echo', 'b1');
    svc2 = await startService(busB2.address, [NAME], '/com/example/Echo', 'b2');
  });

  afterEach(async () => {
    caller?.close();
    caller = undefined;
    await importer?.close();
    importer = undefined;
    await Promise.all(exporters.map((e) => e.kill('SIGKILL')));
    exporters = [];
    await cluster?.stop();
    svc1.taken.length = 0;
    svc2.taken.length = 0;
    svc1.onTake = svc2.onTake = undefined;
  });

  after(() => {
    svc1?.close();
    svc2?.close();
    for (const b of [busA, busB1, busB2]) b?.close();
  });

  /** A cluster, an exporting bridge on bus B1 (then B2) connected to each node of `exporterNodes`, the importing bridge on node 0. */
  async function setUp(exporterNodes: number[], timeoutMs: number): Promise<void> {
    cluster = await startNatsCluster(3);
    for (const [i, node] of exporterNodes.entries()) {
      exporters.push(await spawnBridge(['--address', [busB1, busB2][i].address, '--nats', cluster.urls[node], '--export', NAME]));
    }
    importer = await startBridge({ bus: busA.address, nats: { servers: [cluster.urls[0]] }, imports: [NAME], timeoutMs, log: () => undefined });
    caller = await connect(busA.address);
    await untilServed(caller, NAME);
  }

  function takenOnce(outcomes: Outcome[]): void {
    const all = [...svc1.taken, ...svc2.taken];
    assert.equal(new Set(all).size, all.length, 'no call was carried out twice');
    for (const o of outcomes) if (o.label !== undefined) assert.ok((o.label === 'b1' ? svc1 : svc2).taken.includes(o.id), `call ${o.id} was answered by the service that took it`);
  }

  test('two exporters of one name share the calls; one stopped mid-flood loses no call and none is answered twice', async () => {
    // The stopping exporter shares the importer's node, which picks the queue member of every
    // call: a call on its way between two servers when an exporter leaves could be lost (NATS
    // delivers at most once), and this test claims no loss at all.
    await setUp([0, 2], 30000);
    // Both exporters must be in the queue group before the flood: call until each has answered once.
    while (svc1.taken.length === 0 || svc2.taken.length === 0) await caller!.callMethod({ destination: NAME, path: '/com/example/Echo', interface: 'com.example.Echo', member: 'Take', signature: 'u', body: [1e6 + svc1.taken.length + svc2.taken.length] });
    svc1.taken.length = svc2.taken.length = 0;
    let stoppedAt = -1;
    const stopped = new Promise<number | string>((resolve) => {
      svc1.onTake = () => {
        if (svc1.taken.length !== 50) return;
        stoppedAt = svc2.taken.length;
        resolve(exporters[0].kill('SIGTERM'));
      };
    });
    const outcomes = await flood(caller!, NAME, 1000, 16);
    assert.equal(await stopped, 0, 'the stopped bridge drained and exited with 0');
    assert.deepEqual(outcomes.filter((o) => o.error).map((o) => `${o.id}: ${o.error!.message}`), []);
    takenOnce(outcomes);
    assert.equal(svc1.taken.length + svc2.taken.length, 1000);
    assert.ok(svc2.taken.length > stoppedAt, 'the other exporter answered the calls after the stop');
  });

  test('an exporting bridge killed mid-flood: every call ends with an answer or an error, and the other exporter goes on', async () => {
    await setUp([1, 2], 3000);
    while (svc1.taken.length === 0 || svc2.taken.length === 0) await caller!.callMethod({ destination: NAME, path: '/com/example/Echo', interface: 'com.example.Echo', member: 'Take', signature: 'u', body: [1e6 + svc1.taken.length + svc2.taken.length] });
    svc1.taken.length = svc2.taken.length = 0;
    const killed = new Promise<number | string>((resolve) => {
      svc1.onTake = () => {
        if (svc1.taken.length === 50) resolve(exporters[0].kill('SIGKILL'));
      };
    });
    const outcomes = await flood(caller!, NAME, 600, 16);
    assert.equal(await killed, 'SIGKILL');
    takenOnce(outcomes);
    for (const o of outcomes) {
      if (o.error) assert.ok(o.error instanceof DBusError && o.error.name === ErrorNames.NoReply, `call ${o.id}: ${o.error.message}`);
    }
    // The survivor serves the name: calls go on once the cluster has dropped the dead member.
    const after = await flood(caller!, NAME, 20, 1);
    let ok = after.filter((o) => o.label === 'b2').length;
    while (ok < 20) {
      const [label] = await caller!.callMethod({ destination: NAME, path: '/com/example/Echo', interface: 'com.example.Echo', member: 'Take', signature: 'u', body: [2e6 + ok] }).catch(() => ['lost']);
      ok = label === 'b2' ? ok + 1 : 0;
    }
  });

  test('the only exporting bridge killed mid-flood: callers get errors, never a hang, then ServiceUnknown', async () => {
    await setUp([1], 3000);
    const killed = new Promise<number | string>((resolve) => {
      svc1.onTake = () => {
        if (svc1.taken.length === 50) resolve(exporters[0].kill('SIGKILL'));
      };
    });
    const outcomes = await flood(caller!, NAME, 300, 16);
    assert.equal(await killed, 'SIGKILL');
    takenOnce(outcomes);
    const failed = outcomes.filter((o) => o.error);
    assert.ok(failed.length > 0 && outcomes.length === 300);
    for (const o of failed) {
      assert.ok(o.error instanceof DBusError && (o.error.name === ErrorNames.NoReply || o.error.name === ErrorNames.ServiceUnknown), `call ${o.id}: ${o.error!.message}`);
    }
    // Once the cluster knows the exporter is gone, the name has no responder.
    for (;;) {
      const e = await caller!.callMethod({ destination: NAME, path: '/', interface: 'org.freedesktop.DBus.Peer', member: 'Ping' }).then(() => undefined, (x: unknown) => x);
      assert.ok(e instanceof DBusError && (e.name === ErrorNames.NoReply || e.name === ErrorNames.ServiceUnknown));
      if (e.name === ErrorNames.ServiceUnknown) break;
    }
  });

  test('a NATS node killed under the importing bridge mid-flood: calls go on after it reconnects', async () => {
    await setUp([1], 3000);
    const reconnected = new Promise<void>((resolve) => {
      void (async () => {
        for await (const s of importer!.nats.status()) if (s.type === 'reconnect') return resolve();
      })();
    });
    const killed = new Promise<void>((resolve) => {
      svc1.onTake = () => {
        if (svc1.taken.length === 50) resolve(cluster.nodes[0].kill());
      };
    });
    const outcomes = await flood(caller!, NAME, 300, 16);
    await killed;
    await reconnected;
    takenOnce(outcomes);
    for (const o of outcomes) {
      if (o.error) assert.ok(o.error instanceof DBusError && o.error.name === ErrorNames.NoReply, `call ${o.id}: ${o.error.message}`);
    }
    assert.notEqual(importer!.nats.getServer(), cluster.urls[0].replace('nats://', ''));
    const after = await flood(caller!, NAME, 50, 8);
    assert.deepEqual(after.filter((o) => o.error).map((o) => o.error!.message), []);
  });
});
