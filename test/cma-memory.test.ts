// Exposed buffers are held alive until release, and released ones are
// collected: checked in a child with --expose-gc by its ArrayBuffer memory.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('./fixtures/cma-memory.js', import.meta.url));

it('holds exposed bytes until release, and many expose/release cycles leave no memory held', { timeout: 60_000 }, () => {
  const out = JSON.parse(execFileSync(process.execPath, ['--expose-gc', script], { encoding: 'utf8' }));
  const MiB = 1 << 20;
  assert.ok(out.whileExposed - out.baseline >= 60 * MiB, `64 exposed MiB should stay allocated: ${JSON.stringify(out)}`);
  assert.ok(out.afterRelease - out.baseline < 8 * MiB, `released buffers should be collected: ${JSON.stringify(out)}`);
  assert.ok(out.afterCycles - out.baseline < 8 * MiB, `cycles should leave nothing held: ${JSON.stringify(out)}`);
  assert.equal(out.exposedCount, 0);
});
