// The client example in docs/client.md and the README compiles (it is part of
// the project's tsc run) and does what its comments say, on both buses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBus } from './fixtures/bus.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const example = path.join(here, 'fixtures', 'docs-example.js');
const root = path.join(here, '..', '..');

/** Code without comments, whitespace runs as one space, the package import as the fixture's. */
function normalise(code: string): string {
  return code.replace(/\/\/.*$/gm, '').replace("from 'fastbus'", "from '../../src/index.js'").split(/\s+/).filter(Boolean).join(' ');
}

test('the fixture run below is the example docs/client.md shows', () => {
  const doc = /```ts\n([\s\S]*?)```/.exec(readFileSync(path.join(root, 'docs', 'client.md'), 'utf8'));
  assert.ok(doc, 'docs/client.md has a ts example');
  assert.equal(normalise(readFileSync(path.join(root, 'test', 'fixtures', 'docs-example.ts'), 'utf8')), normalise(doc[1]));
});

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
