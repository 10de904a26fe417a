#!/usr/bin/env node
// Checks the layer rule of DESIGN.md: a file in src/ imports only from its
// own layer or a lower one; broker/ and client/ never import each other;
// bridge/ (above client) never imports broker/; within layer 2, names/ is below wire/ (wire/ checks header names with
// names/; names/ never imports wire/); wire/ and names/ do no I/O; only
// src/native/native.ts loads the addon; outside tests, src/ loads no package but
// Node's own, except `nats`, which only bridge/ may load (DESIGN.md: runtime
// dependencies).
import { builtinModules } from 'node:module';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(process.argv[2] ?? 'src');
const levels = {
  errors: 0, util: 0, native: 1, wire: 2, names: 2,
  transport: 3, match: 3, channel: 3, cma: 3,
  broker: 4, client: 4, bridge: 5, cli: 6, '': 7,
};
const pure = new Set(['wire', 'names']);
/** Imports forbidden between folders of one layer: [from, to, why]. */
const sideways = [
  ['broker', 'client', 'they share the layers below'],
  ['client', 'broker', 'they share the layers below'],
  ['names', 'wire', 'names/ is below wire/ in layer 2: what both need lives in names/'],
  ['bridge', 'broker', 'bridge/ sits on the client, not on the broker'],
];
const builtins = new Set(builtinModules);
/** Packages a layer may load at run time: [package, layer]. */
const runtimePackages = [['nats', 'bridge']];
const ioModules = /^(node:)?(fs|fs\/promises|net|dgram|child_process|cluster|http|https|http2|tls|worker_threads|dns|os|process|readline)$/;

function layerOf(file) {
  const rel = path.relative(root, file).split(path.sep);
  if (rel.length === 1) return rel[0].replace(/\.[jt]s$/, '') === 'errors' ? 'errors' : '';
  return rel[0];
}

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) yield p;
  }
}

const problems = [];
const importRe = /(?:^|\n)\s*(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g;
for (const file of walk(root)) {
  const isTest = file.endsWith('.test.ts');
  const own = layerOf(file);
  if (!(own in levels)) { problems.push(`${file}: folder '${own}' is not a layer in DESIGN.md`); continue; }
  const text = readFileSync(file, 'utf8');
  if (/\.node['"]/.test(text) && !file.endsWith(path.join('native', 'native.ts'))) {
    problems.push(`${file}: only src/native/native.ts may load the addon`);
  }
  for (const m of text.matchAll(importRe)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (!spec.startsWith('.')) {
      if (pure.has(own) && !isTest && ioModules.test(spec)) problems.push(`${file}: ${own}/ is pure and may not import '${spec}'`);
      const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
      if (!isTest && !spec.startsWith('node:') && !builtins.has(pkg) && !runtimePackages.some(([p, layer]) => p === pkg && layer === own)) {
        problems.push(`${file}: '${spec}' is not a Node built-in: src/ has no runtime dependency but nats, loaded only by bridge/`);
      }
      continue;
    }
    if (isTest) continue;
    const target = layerOf(path.resolve(path.dirname(file), spec));
    if (!(target in levels)) continue;
    if (target === own) continue;
    const forbidden = sideways.find(([from, to]) => from === own && to === target);
    if (forbidden) {
      problems.push(`${file}: ${own}/ may not import ${target}/ (${forbidden[2]})`);
    } else if (levels[target] > levels[own]) {
      problems.push(`${file}: ${own}/ (layer ${levels[own]}) may not import upward from ${target}/ (layer ${levels[target]})`);
    }
  }
}
if (problems.length) {
  console.error(problems.join('\n'));
  console.error(`layer rule: ${problems.length} violation(s)`);
  process.exit(1);
}
console.log('layer rule: ok');
