#!/usr/bin/env node
// Writes dist/fastbus-daemon.cjs, `fastbus daemon` in one CommonJS file, and
// dist/fastbus-daemon.cache, V8's code cache for it (docs/cli-daemon.md,
// "Start-up"). On Node 20 the ESM loader costs about 1 ms per module file and
// the daemon needs some 75 of them; bin/fastbus.cjs runs this file instead.
// Run after tsc by `npm run build`, `npm install` (prepare) and `npm test`, so
// it is made from dist/src and cannot fall behind it.
//
// The bundle: dist/src/cli/main.js and every module it imports, statically or
// dynamically (of the command table, only the daemon), each turned into
// CommonJS by TypeScript's own transform and kept whole in a function that
// runs at its first require, in the order of the ESM graph. A module's
// `import.meta.url` is its file's URL in dist, so what is resolved from it
// (the native addon) is found as before. Bare specifiers (node: built-ins)
// are Node's own require.
//
// The cache: V8 checks only its version, flags and the source's length, so
// the bundle's first line holds a hash of the bundle that the cache repeats.
// It is made by a training run (the daemon started through bin/fastbus.cjs,
// one Hello answered, stopped), so that it holds the functions a start
// compiles, not only the top level.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const ENTRY = 'src/cli/main.js';
const BUNDLE = path.join(dist, 'fastbus-daemon.cjs');
const CACHE = path.join(dist, 'fastbus-daemon.cache');
const LAUNCHER = path.join(root, 'bin/fastbus.cjs');
/** Of the command table's dynamic imports, the ones the bundle holds. */
const COMMAND_TABLE = { module: 'src/cli/commands.js', keep: new Set(['./daemon.js']) };
/** The names the wrapper gives each module; a module may not declare them at its top level. */
const RESERVED = new Set(['exports', 'require', 'module', '__importMetaUrl']);

function parse(file, source) {
  return ts.createSourceFile(file, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
}

/** Replaces `import.meta.url` with the module's URL parameter; any other use of import.meta is refused. */
function importMetaUrl(file) {
  return (context) => (sourceFile) => {
    const visit = (node) => {
      if (ts.isPropertyAccessExpression(node) && ts.isMetaProperty(node.expression) && node.name.text === 'url') {
        return context.factory.createIdentifier('__importMetaUrl');
      }
      if (ts.isMetaProperty(node) && node.keywordToken === ts.SyntaxKind.ImportKeyword) {
        throw new Error(`${file}: only import.meta.url can be bundled (scripts/bundle-daemon.mjs)`);
      }
      return ts.visitEachChild(node, visit, context);
    };
    return ts.visitNode(sourceFile, visit);
  };
}

/** Checks what the wrapper relies on; returns the relative specifiers the module imports, in order. */
function relativeImports(id, sf) {
  for (const st of sf.statements) {
    const names = ts.isVariableStatement(st) ? st.declarationList.declarations.map((d) => d.name)
      : (ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st)) && st.name ? [st.name] : [];
    for (const n of names) {
      if (ts.isIdentifier(n) && RESERVED.has(n.text)) throw new Error(`${id}: a top-level '${n.text}' cannot be bundled (scripts/bundle-daemon.mjs): rename it`);
    }
  }
  const found = [];
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (!arg || !ts.isStringLiteral(arg)) throw new Error(`${id}: import() of a computed specifier cannot be bundled`);
      if (id !== COMMAND_TABLE.module || COMMAND_TABLE.keep.has(arg.text)) found.push(arg.text);
    } else if (ts.isAwaitExpression(node) && !ts.findAncestor(node, ts.isFunctionLike)) {
      throw new Error(`${id}: a top-level await cannot be bundled`);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found.filter((s) => s.startsWith('.'));
}

/** Every module reachable from the entry, in the order first met, each as CommonJS. */
function collect() {
  const modules = new Map();
  const queue = [ENTRY];
  while (queue.length) {
    const id = queue.shift();
    if (modules.has(id)) continue;
    const source = readFileSync(path.join(dist, id), 'utf8').replace(/^#!.*\n/, '');
    for (const spec of relativeImports(id, parse(id, source))) queue.push(path.posix.join(path.posix.dirname(id), spec));
    const out = ts.transpileModule(source, {
      fileName: id,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, removeComments: true, sourceMap: false },
      transformers: { before: [importMetaUrl(id)] },
    });
    modules.set(id, out.outputText.replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n'));
  }
  return modules;
}

function bundle(modules) {
  const body = [
    '"use strict";',
    'const __path = require("node:path");',
    'const __url = require("node:url");',
    'const __nodeRequire = require;',
    'const __defs = {',
    ...[...modules].map(([id, code]) => `${JSON.stringify(id)}: function (exports, require, module, __importMetaUrl) {\n${code}},`),
    '};',
    'const __loaded = new Map();',
    '/** A bundled module by its path under dist, run at its first require as the ESM graph would run it (a cycle sees what is ready so far). */',
    'function __load(id) {',
    '  let m = __loaded.get(id);',
    '  if (m) return m.exports;',
    '  const define = __defs[id];',
    '  if (!define) throw new Error(`${id} is not in fastbus-daemon.cjs (only the daemon is): run dist/src/cli/main.js`);',
    '  m = { exports: {} };',
    '  __loaded.set(id, m);',
    '  const dir = __path.posix.dirname(id);',
    '  const req = (spec) => spec.startsWith(".") ? __load(__path.posix.join(dir, spec)) : __nodeRequire(spec);',
    '  define.call(undefined, m.exports, req, m, __url.pathToFileURL(__path.join(__dirname, id)).href);',
    '  return m.exports;',
    '}',
    `__load(${JSON.stringify(ENTRY)});`,
    '',
  ].join('\n');
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 32);
  return { hash, text: `// fastbus-daemon ${hash}: made by scripts/bundle-daemon.mjs from dist/src; do not edit.\n${body}` };
}

function writeAtomically(file, data) {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

/** Starts the daemon through the launcher, has one Hello answered, stops it: the launcher writes the cache as it exits. */
async function train() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fastbus-bundle-'));
  const { connect } = await import(pathToFileURL(path.join(dist, 'src/client/index.js')).href);
  try {
    const child = spawn(process.execPath, [LAUNCHER, 'daemon', '--session', '--nofork', '--print-address', `--address=unix:path=${path.join(dir, 'bus')}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FASTBUS_CODE_CACHE_OUT: CACHE },
    });
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    let out = '';
    const address = await new Promise((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        const nl = out.indexOf('\n');
        if (nl >= 0) resolve(out.slice(0, nl).trim());
      });
      exited.then(({ code, signal }) => reject(new Error(`the daemon exited (${code ?? signal}) before printing its address: ${err.trim()}`)));
    });
    const bus = await connect(address);
    bus.close();
    child.kill('SIGTERM');
    const { code, signal } = await exited;
    if (code !== 0) throw new Error(`the daemon exited with ${code ?? signal} after SIGTERM: ${err.trim()}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const { hash, text } = bundle(collect());
rmSync(CACHE, { force: true });
writeAtomically(BUNDLE, text);
try {
  await train();
  const header = readFileSync(CACHE).subarray(0, 33).toString('latin1');
  if (header !== `${hash}\n`) throw new Error('the training run wrote no cache for this bundle');
} catch (e) {
  // The daemon runs without the cache, only slower; npm test checks that it is there and taken.
  rmSync(CACHE, { force: true });
  console.error(`scripts/bundle-daemon.mjs: no code cache for the daemon (${e instanceof Error ? e.message : String(e)})`);
}
