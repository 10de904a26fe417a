// Benchmarks start buses, services and peers before they measure: each step
// must wait for the event that proves the previous one is ready (a printed
// line, a listening socket), never for a stretch of time that is only usually
// long enough. This scans the benchmark sources for sleeps.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = fileURLToPath(new URL('../../bench/', import.meta.url));

function* sources(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    // The soak's timers pace its load (think time, slow readers' pauses, a kill every 2 s); it waits for no set-up by time.
    if (statSync(p).isDirectory()) {
      if (name !== 'soak') yield* sources(p);
    }
    else if (p.endsWith('.ts')) yield p;
  }
}

const sleeps: Array<[string, RegExp]> = [
  ['a timer promise', /node:timers\/promises/],
  ['setTimeout', /\bsetTimeout\s*\(/],
  ['a shell sleep', /\bsleep\s+\d/],
];

describe('benchmark set-up', () => {
  it('waits for events, never sleeps, in every benchmark source', () => {
    const found: string[] = [];
    const files = [...sources(benchDir)];
    assert.ok(files.some((f) => f.endsWith(path.join('broker', 'index.ts'))), `no benchmark sources under ${benchDir}`);
    for (const file of files) {
      readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        for (const [what, re] of sleeps) if (re.test(line)) found.push(`${path.relative(benchDir, file)}:${i + 1}: ${what}: ${line.trim()}`);
      });
    }
    assert.deepEqual(found, []);
  });
});
