// `fastbus bridge` as users run it: NATS settings from flags, the environment
// and a config file, against a nats-server that requires a user and password;
// a dbus-daemon exporting, a fastbus bus importing; a wrong password refused
// at start with exit code 3; SIGTERM ends it with 0.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { connect, type Connection } from '../src/client/index.js';
import { CLI, startBus, type TestBus } from './fixtures/bus.js';
import { dbusBrokerSkip, startDbusBroker } from './fixtures/dbus-broker.js';
import { startNats, type NatsCluster } from './fixtures/nats.js';
import { spawnBridge, startLocalBus, startService, untilServed, type BridgeProcess, type LocalBus, type TestService } from './fixtures/bridge.js';

const NAME = 'com.example.Echo';

describe('fastbus bridge, the command', { timeout: 60000 }, () => {
  let nats: NatsCluster;
  let busB: TestBus;
  let busA: LocalBus;
  let svc: TestService;
  const bridges: BridgeProcess[] = [];
  let caller: Connection;

  before(async () => {
    nats = await startNats('authorization { user: fleet, password: "s3cret" }\n');
    busB = await startBus('dbus-daemon');
    busA = await startLocalBus();
    svc = await startService(busB.address, [NAME]);
    caller = await connect(busA.address);
  });

  after(async () => {
    caller?.close();
    await Promise.all(bridges.map((b) => b.kill('SIGKILL')));
    svc?.close();
    busA?.close();
    await busB?.stop();
    await nats?.stop();
  });

  test('exports with NATS settings from the environment and imports with them from a config file', async () => {
    bridges.push(await spawnBridge(['--address', busB.address, '--export', NAME], { ...process.env, NATS_URL: nats.urls[0], NATS_USER: 'fleet', NATS_PASSWORD: 's3cret' }));
    const config = path.join(busB.dir, 'bridge.json');
    writeFileSync(config, JSON.stringify({ bus: busA.address, import: [NAME], nats: { servers: [nats.urls[0]], user: 'fleet', password: 's3cret' } }));
    const importer = await spawnBridge(['--config', config]);
    bridges.push(importer);
    assert.match(importer.output(), new RegExp(`bridge ready: bus :[\\d.]+; NATS 127.0.0.1:\\d+; import ${NAME.replace(/\./g, '\\.')}`));
    await untilServed(caller, NAME);
    assert.deepEqual(await caller.callMethod({ destination: NAME, path: '/com/example/Echo', interface: 'com.example.Echo', member: 'Echo', signature: 's', body: ['cli'] }), ['echo cli']);
    assert.equal(await importer.kill('SIGTERM'), 0, 'SIGTERM stops the bridge with exit code 0');
  });

  test('imports into dbus-broker, where gdbus calls the service exported from dbus-daemon', { skip: dbusBrokerSkip() }, async () => {
    const broker = await startDbusBroker();
    try {
      bridges.push(await spawnBridge(['--address', busB.address, '--export', NAME], { ...process.env, NATS_URL: nats.urls[0], NATS_USER: 'fleet', NATS_PASSWORD: 's3cret' }));
      bridges.push(await spawnBridge(['--address', broker.address, '--import', NAME, '--nats', nats.urls[0], '--nats-user', 'fleet', '--nats-password', 's3cret']));
      const onBroker = await connect(broker.address);
      try {
        await untilServed(onBroker, NAME);
      } finally {
        onBroker.close();
      }
      const { stdout } = await promisify(execFile)('gdbus', ['call', '--session', '--dest', NAME, '--object-path', '/com/example/Echo', '--method', 'com.example.Echo.Echo', 'gdbus'], { env: broker.env, timeout: 20000 });
      assert.equal(stdout.trim(), "('echo gdbus',)");
    } finally {
      await broker.stop();
    }
  });

  test('a wrong NATS password is refused at start with exit code 3 and the server\'s reason', async () => {
    const child = spawn(process.execPath, [CLI, 'bridge', '--address', busA.address, '--nats', nats.urls[0], '--nats-user', 'fleet', '--nats-password', 'wrong', '--import', 'com.example.Other'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(code, 3, err);
    assert.match(err, /cannot connect to NATS .*: .*[Aa]uthorization/);
  });

  test('a name and a prefix that cannot be bridged are usage errors', async () => {
    for (const args of [['--import', ':1.5'], ['--export', 'a.B', '--prefix', 'x.>']]) {
      const child = spawn(process.execPath, [CLI, 'bridge', '--address', busA.address, '--nats', nats.urls[0], ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      assert.equal(await new Promise((resolve) => child.once('exit', resolve)), 2, err);
      assert.match(err, /fastbus bridge: bridge: /);
    }
  });
});
