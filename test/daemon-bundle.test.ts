// `fastbus daemon` as users start it (bin/fastbus.cjs): the daemon in one file
// (dist/fastbus-daemon.cjs, made by scripts/bundle-daemon.mjs in every build
// and before every test run), compiled with the code cache of the same build.
// Every test that starts a fastbus bus runs this file; here, that the cache
// is taken (it is refused under other V8 flags, so src/cli/daemon.ts and
// bin/fastbus.cjs must set the same ones) and that one made for another
// bundle is never used.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect } from '../src/client/index.js';
import { CLI, printedAddress, stopDaemon } from './fixtures/bus.js';

const root = path.resolve(path.dirname(CLI), '..');

describe('the one-file daemon', { timeout: 60000 }, () => {
  it('answers Hello and serves the bus, compiled with its code cache', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fastbus-bundle-'));
    const child = spawn(process.execPath, [CLI, 'daemon', '--session', '--nofork', '--print-address', `--address=unix:path=${path.join(dir, 'bus')}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FASTBUS_CODE_CACHE_REPORT: '1' },
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    try {
      const address = await printedAddress(child, (code) => `the daemon exited with ${code}: ${err}`);
      const c = await connect(address);
      const [names] = await c.busCall('ListNames');
      assert.ok((names as string[]).includes('org.freedesktop.DBus'));
      c.close();
      assert.match(err, /^fastbus: code cache accepted$/m);
    } finally {
      await stopDaemon(child, dir);
    }
  });

  it('does not use a code cache made for another bundle', async () => {
    // A copy of the launcher and the bundle with one byte changed (same length: V8 alone would take the cache).
    const dir = mkdtempSync(path.join(tmpdir(), 'fastbus-bundle-'));
    try {
      mkdirSync(path.join(dir, 'bin'));
      mkdirSync(path.join(dir, 'dist'));
      copyFileSync(CLI, path.join(dir, 'bin/fastbus.cjs'));
      copyFileSync(path.join(root, 'dist/fastbus-daemon.cache'), path.join(dir, 'dist/fastbus-daemon.cache'));
      symlinkSync(path.join(root, 'build'), path.join(dir, 'build'));
      const bundle = readFileSync(path.join(root, 'dist/fastbus-daemon.cjs'), 'utf8');
      const hash = /^\/\/ fastbus-daemon ([0-9a-f]+):/.exec(bundle)![1];
      const other = hash.replace(/^./, (c) => (c === '0' ? '1' : '0'));
      writeFileSync(path.join(dir, 'dist/fastbus-daemon.cjs'), bundle.replace(hash, other));
      const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
        execFile(process.execPath, [path.join(dir, 'bin/fastbus.cjs'), 'daemon', '--version'], { env: { ...process.env, FASTBUS_CODE_CACHE_REPORT: '1' } }, (e, out, errText) => (e ? reject(e) : resolve({ stdout: out, stderr: errText })));
      });
      assert.match(stdout, /^fastbus daemon /);
      assert.match(stderr, /^fastbus: code cache absent$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
