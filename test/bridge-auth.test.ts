// The NATS credentials a bridge takes, each against a nats-server that
// requires it: a token, an nkey seed file, TLS verified with a CA file. Each
// is shown to work, and to fail with a wrong value (the bridge refuses to
// start with BridgeConnectError), so the setting is really used.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { nkeys } from 'nats';
import { BridgeConnectError, startBridge, type BridgeOptions, type NatsSettings } from '../src/bridge/index.js';
import { startNats } from './fixtures/nats.js';
import { startLocalBus, type LocalBus } from './fixtures/bridge.js';

describe('NATS credentials of the bridge', { timeout: 60000 }, () => {
  let dir: string;
  let bus: LocalBus;
  let n = 0;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'fastbus-bridge-auth-'));
    bus = await startLocalBus();
  });

  after(() => {
    bus?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts a server with `config`, then a bridge with each of `good` (must start) and `bad` (must be refused). */
  async function check(config: string, url: (u: string) => string, good: NatsSettings, bad: NatsSettings): Promise<void> {
    const nats = await startNats(config);
    try {
      const options = (s: NatsSettings): BridgeOptions => ({ bus: bus.address, nats: { ...s, servers: [url(nats.urls[0])] }, imports: [`com.example.Auth${++n}`], log: () => undefined });
      const bridge = await startBridge(options(good));
      assert.equal(typeof bridge.nats.info?.server_id, 'string');
      await bridge.close();
      await assert.rejects(startBridge(options(bad)), (e: unknown) => e instanceof BridgeConnectError && /cannot connect to NATS/.test(e.message));
    } finally {
      await nats.stop();
    }
  }

  test('a token', async () => {
    await check('authorization { token: "t0ken" }\n', (u) => u, { token: 't0ken' }, { token: 'wrong' });
  });

  test('an nkey seed file', async () => {
    const user = nkeys.createUser();
    const other = nkeys.createUser();
    const seedFile = path.join(dir, 'user.nk');
    const otherFile = path.join(dir, 'other.nk');
    writeFileSync(seedFile, new TextDecoder().decode(user.getSeed()));
    writeFileSync(otherFile, new TextDecoder().decode(other.getSeed()));
    await check(`authorization { users: [ { nkey: "${user.getPublicKey()}" } ] }\n`, (u) => u, { nkeyFile: seedFile }, { nkeyFile: otherFile });
  });

  test('TLS, the server verified with a CA file', async () => {
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    // Without the CA the server's self-signed certificate cannot be verified.
    await check(`tls { cert_file: "${cert}", key_file: "${key}" }\n`, (u) => u.replace('nats://', 'tls://'), { caFile: cert }, { tls: true });
  });
});
