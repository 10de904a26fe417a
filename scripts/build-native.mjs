#!/usr/bin/env node
// Builds the C addon with node-gyp against the Node headers installed beside
// this Node binary, so that node-gyp never downloads anything.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const prefix = path.resolve(path.dirname(process.execPath), '..');
const headers = path.join(prefix, 'include', 'node', 'node_api.h');
if (!existsSync(headers)) {
  console.error(`fastbus: Node's headers are not at ${path.dirname(headers)}; install them (they ship with Node) and retry`);
  process.exit(1);
}

function findNodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  const require = createRequire(import.meta.url);
  const candidates = [
    () => require.resolve('node-gyp/bin/node-gyp.js'),
    () => path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  for (const c of candidates) {
    try { const p = c(); if (existsSync(p)) return p; } catch { /* next */ }
  }
  console.error('fastbus: node-gyp not found (it ships with npm); run this through npm install');
  process.exit(1);
}

const result = spawnSync(process.execPath, [findNodeGyp(), 'rebuild', `--nodedir=${prefix}`, '--loglevel=warn'], { stdio: 'inherit' });
process.exit(result.status ?? 1);
