import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readBridgeConfig, resolveBridgeOptions } from './bridge-config.js';
import { natsConnectionOptions } from './nats-settings.js';
import { callSubject, checkBridgedName, checkPrefix, signalSubject } from './subjects.js';
import { BridgeOptionsError } from './bridge-options-error.js';

function withFile(text: string, body: (file: string) => void): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'fastbus-bridge-config-'));
  try {
    const file = path.join(dir, 'bridge.json');
    writeFileSync(file, text);
    body(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('flags win over the environment, which wins over the config file; names add up', () => {
  withFile(JSON.stringify({ bus: 'unix:path=/f', prefix: 'file', timeoutMs: 100, export: ['a.B'], nats: { servers: ['nats://f:1'], user: 'fu', password: 'fp', token: 'ft' } }), (file) => {
    const o = resolveBridgeOptions({ exports: ['c.D'], nats: { user: 'flag' } }, file, { NATS_URL: 'nats://e:1, nats://e:2', NATS_PASSWORD: 'ep', FASTBUS_BRIDGE_PREFIX: 'env' });
    assert.equal(o.bus, 'unix:path=/f');
    assert.equal(o.prefix, 'env');
    assert.equal(o.timeoutMs, 100);
    assert.deepEqual(o.exports, ['a.B', 'c.D']);
    assert.deepEqual(o.nats, { servers: ['nats://e:1', 'nats://e:2'], user: 'flag', password: 'ep', token: 'ft' });
  });
});

test('a config file with an unknown key or a wrong type is refused, naming the file and the key', () => {
  withFile('{"exports": ["a.B"]}', (file) => assert.throws(() => readBridgeConfig(file), new RegExp(`${file}: unknown key 'exports'`)));
  withFile('{"nats": {"server": "x"}}', (file) => assert.throws(() => readBridgeConfig(file), /unknown key 'nats.server'/));
  withFile('{"import": "a.B"}', (file) => assert.throws(() => readBridgeConfig(file), /'import' must be an array of strings/));
  withFile('{', (file) => assert.throws(() => readBridgeConfig(file), /bridge config/));
});

test('NATS settings become the client options: servers, credentials, TLS files', () => {
  const o = natsConnectionOptions({ servers: ['nats://a:1', 'nats://b:2'], user: 'u', password: 'p', caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem' }, 'n');
  assert.deepEqual([o.servers, o.user, o.pass, o.tls], [['nats://a:1', 'nats://b:2'], 'u', 'p', { caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem' }]);
  assert.equal(o.maxReconnectAttempts, -1);
  assert.equal(natsConnectionOptions({ tls: true }, 'n').tls !== undefined, true);
  assert.equal(natsConnectionOptions({}, 'n').tls, undefined);
  assert.throws(() => natsConnectionOptions({ nkeyFile: '/a', credsFile: '/b' }, 'n'), /not both/);
});

test('subjects: a prefix keeps fleets apart; only well-known names are bridged', () => {
  assert.equal(callSubject('fleet1', 'org.example.Svc'), 'fleet1.call.org.example.Svc');
  assert.equal(signalSubject('a.b', 'org.example.Svc'), 'a.b.signal.org.example.Svc');
  for (const bad of ['', 'a..b', 'a.*', 'a.>', 'a b']) assert.throws(() => checkPrefix(bad), BridgeOptionsError);
  for (const bad of [':1.5', 'org.freedesktop.DBus', 'nodots', 'a.-b.c d']) assert.throws(() => checkBridgedName(bad), BridgeOptionsError);
  assert.equal(checkBridgedName('org.example.Svc'), 'org.example.Svc');
});
