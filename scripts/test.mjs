#!/usr/bin/env node
// `npm test`: type check and build, the layer rule, then every test file
// (unit tests beside their source, cross-layer tests in test/, the short fuzz
// run in fuzz/) with node:test. Arguments filter test files by substring.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
process.chdir(root);

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

// Rebuild the addon when it is missing or older than its sources.
const addon = 'build/Release/fastbus.node';
const sources = ['binding.gyp', ...readdirSync('src/native').filter((f) => /\.[ch]$/.test(f)).map((f) => path.join('src/native', f))];
if (!existsSync(addon) || sources.some((f) => statSync(f).mtimeMs > statSync(addon).mtimeMs)) {
  run(process.execPath, ['scripts/build-native.mjs']);
}
run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json']);
// The daemon in one file, as users run it (bin/fastbus.cjs): the tests that start a bus use it.
run(process.execPath, ['scripts/bundle-daemon.mjs']);
run(process.execPath, ['scripts/check-layers.mjs', 'src']);

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else if (p.endsWith('.test.js')) yield p;
  }
}
const filters = process.argv.slice(2);
const files = [...walk('dist')].filter((f) => filters.length === 0 || filters.some((s) => f.includes(s))).sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// Watchdogs: each test has a default timeout (tests set their own, shorter
// ones), and the whole run is ended if it passes the budget, so that a hung
// file can never hold CI.
const RUN_BUDGET_MS = 9 * 60 * 1000;
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=3', '--test-timeout=300000', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  timeout: RUN_BUDGET_MS,
  killSignal: 'SIGKILL',
});
if (r.error || r.signal) {
  console.error(`npm test: the test run was ended after ${RUN_BUDGET_MS / 60000} minutes (${r.error?.message ?? r.signal}): a test file hung`);
  console.error('0 passed, 1 failed');
  process.exit(1);
}
process.exit(r.status ?? 1);
