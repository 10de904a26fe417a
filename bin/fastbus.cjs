#!/usr/bin/env node
// The `fastbus` command. `fastbus daemon` runs dist/fastbus-daemon.cjs, the
// daemon in one file, compiled with its V8 code cache (both made by
// scripts/bundle-daemon.mjs at build time): a start loads one file instead of
// some 75 modules through Node's ESM loader (docs/cli-daemon.md, "Start-up").
// Every other command, and the daemon when the bundle is missing, runs
// dist/src/cli/main.js. CommonJS, so that nothing of the ESM loader runs first.
'use strict';
const { readFileSync, writeFileSync, renameSync } = require('node:fs');
const path = require('node:path');

const dist = path.join(__dirname, '..', 'dist');
const bundleFile = path.join(dist, 'fastbus-daemon.cjs');
const cacheFile = path.join(dist, 'fastbus-daemon.cache');

/**
 * The V8 flags that src/cli/daemon.ts sets, set here before compiling: V8
 * takes a code cache only under the flags it was made with, and the training
 * run makes it after the daemon has set them (npm test checks it is taken).
 */
const DAEMON_V8_FLAGS = ['--no-parallel-scavenge', '--semi-space-growth-factor=1'];

/** The bundle's source, or undefined when it was not built. */
function readBundle() {
  try {
    return readFileSync(bundleFile, 'utf8');
  } catch {
    return undefined;
  }
}

/** The cache for the bundle whose first line names `hash`, or undefined. */
function readCache(hash) {
  try {
    const data = readFileSync(cacheFile);
    return data.subarray(0, hash.length + 1).toString('latin1') === `${hash}\n` ? data.subarray(hash.length + 1) : undefined;
  } catch {
    return undefined;
  }
}

function runDaemonBundle(source) {
  const vm = require('node:vm');
  const v8 = require('node:v8');
  for (const flag of DAEMON_V8_FLAGS) v8.setFlagsFromString(flag);
  const hash = /^\/\/ fastbus-daemon ([0-9a-f]+):/.exec(source)?.[1] ?? '';
  const cachedData = readCache(hash);
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: bundleFile, cachedData });
  if (process.env.FASTBUS_CODE_CACHE_REPORT) {
    process.stderr.write(`fastbus: code cache ${cachedData === undefined ? 'absent' : script.cachedDataRejected ? 'rejected' : 'accepted'}\n`);
  }
  const out = process.env.FASTBUS_CODE_CACHE_OUT;
  if (out) {
    // The build's training run: the cache is made at exit, holding what the run compiled.
    process.once('exit', () => {
      const tmp = `${out}.${process.pid}.tmp`;
      writeFileSync(tmp, Buffer.concat([Buffer.from(`${hash}\n`, 'latin1'), script.createCachedData()]));
      renameSync(tmp, out);
    });
  }
  const module = { exports: {} };
  script.runInThisContext()(module.exports, require, module, bundleFile, dist);
}

const source = process.argv[2] === 'daemon' ? readBundle() : undefined;
if (source !== undefined) runDaemonBundle(source);
else import('../dist/src/cli/main.js');
