// The client example in docs/client.md and the README compiles (it is part of
// the project's tsc run) and does what its comments say, on both buses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBus } from './fixtures/bus.js';

const example = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'docs-example.js');

for (const kind of ['dbus-daemon', 'fastbus'] as const) {
  test(`the documented client example prints what it says on ${kind}`, { timeout: 30000 }, async () => {
    const bus = await startBus(kind);
    try {
      const out = await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, [example], { env: bus.env }, (e, stdout, stderr) => (e ? reject(new Error(stderr)) : resolve(stdout))));
      assert.equal(out, 'hi\nhi\n1\n');
    } finally {
      await bus.stop();
    }
  });
}
