// The core stays free of runtime dependencies: importing any entry point of
// the package but fastbus/bridge, or running `fastbus daemon`, never loads the
// `nats` client. Child processes run with a module hook that fails every
// resolution into node_modules/nats (or its nkeys.js); fastbus/bridge under
// the same hook shows that the hook catches it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { connect } from '../src/client/index.js';
import { CLI, printedAddress } from './fixtures/bus.js';

const root = path.resolve(path.dirname(CLI), '..');
const run = promisify(execFile);
const HOOK = `
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(\`
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (/\\\\/node_modules\\\\/(nats|nkeys\\\\.js)\\\\//.test(r.url)) throw new Error('the NATS client was loaded: ' + r.url);
  return r;
}\`));
`;

describe('the NATS client is loaded only by the bridge', () => {
  let dir: string;
  let hook: string;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'fastbus-isolation-'));
    hook = path.join(dir, 'hook.mjs');
    writeFileSync(hook, HOOK);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  const importAll = (specifiers: string[]): Promise<{ stdout: string }> => run(process.execPath, [
    '--import', hook, '--input-type=module', '-e',
    `for (const s of ${JSON.stringify(specifiers)}) await import(s); console.log('imported');`,
  ], { cwd: root });

  test('importing every entry point of the package but fastbus/bridge loads no NATS code', async () => {
    const exportsMap = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).exports as Record<string, string>;
    const entries = Object.keys(exportsMap).filter((k) => k !== './bridge' && k !== './package.json').map((k) => (k === '.' ? 'fastbus' : `fastbus/${k.slice(2)}`));
    assert.ok(entries.includes('fastbus') && entries.includes('fastbus/channel'));
    assert.equal((await importAll(entries)).stdout.trim(), 'imported');
  });

  test('the hook catches fastbus/bridge loading the NATS client', async () => {
    await assert.rejects(importAll(['fastbus/bridge']), /the NATS client was loaded/);
  });

  test('the one-file daemon (bin/fastbus.cjs daemon) holds no bridge module and requires no NATS code', () => {
    const bundle = readFileSync(path.join(root, 'dist/fastbus-daemon.cjs'), 'utf8');
    assert.match(bundle, /^"src\/broker\/broker\.js": function/m);
    assert.doesNotMatch(bundle, /^"src\/bridge\//m);
    assert.doesNotMatch(bundle, /require\("nats"\)|nkeys/);
  });

  test('fastbus daemon from its modules (dist/src/cli/main.js) runs and serves without loading NATS code', async () => {
    const child = spawn(process.execPath, ['--import', hook, path.join(root, 'dist/src/cli/main.js'), 'daemon', '--session', '--nofork', '--print-address', `--address=unix:path=${path.join(dir, 'bus')}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    try {
      const address = await printedAddress(child, (code) => `fastbus daemon exited with ${code}: ${err}`);
      const c = await connect(address);
      const [names] = await c.busCall('ListNames');
      assert.ok((names as string[]).includes('org.freedesktop.DBus'));
      c.close();
    } finally {
      // (printedAddress drops the exit listeners it saw, so the exit is awaited only here.)
      const exited = new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(undefined) : child.once('exit', resolve)));
      child.kill();
      await exited;
    }
  });
});
