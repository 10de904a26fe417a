// The layer rule's checker (scripts/check-layers.mjs) on small trees made for
// the purpose: it refuses what DESIGN.md forbids (an upward import, broker/
// and client/ importing each other, a package other than Node's own, nats
// outside bridge/) and lets through what it allows (nats in bridge/, a dev
// dependency in a test file).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FIXTURES } from './fixtures/bus.js';

const CHECKER = path.join(FIXTURES, '..', '..', 'scripts', 'check-layers.mjs');

describe('the layer rule checker', () => {
  let dir: string;
  let n = 0;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'fastbus-layers-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Writes `files` (path under src/ -> text) in a fresh tree and runs the checker on it. */
  function check(files: Record<string, string>): { ok: boolean; output: string } {
    const src = path.join(dir, String(++n), 'src');
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(src, file)), { recursive: true });
      writeFileSync(path.join(src, file), text);
    }
    const r = spawnSync(process.execPath, [CHECKER, src], { encoding: 'utf8' });
    return { ok: r.status === 0, output: r.stdout + r.stderr };
  }

  it('accepts imports from the own or a lower layer, Node built-ins, nats in bridge/ and dev dependencies in tests', () => {
    const r = check({
      'util/a.ts': "export const a = 1;\n",
      'wire/b.ts': "import { a } from '../util/a.js';\nexport const b = a;\n",
      'broker/c.ts': "import { b } from '../wire/b.js';\nimport net from 'node:net';\nimport { EventEmitter } from 'events';\nexport const c = [b, net, EventEmitter];\n",
      'bridge/d.ts': "import { connect } from 'nats';\nexport const d = connect;\n",
      'wire/b.test.ts': "import fc from 'fast-check';\nexport const t = fc;\n",
    });
    assert.ok(r.ok, r.output);
    assert.match(r.output, /layer rule: ok/);
  });

  it('refuses an upward import and broker/ importing client/', () => {
    const r = check({
      'wire/a.ts': "import { b } from '../broker/b.js';\nexport const a = b;\n",
      'client/c.ts': 'export const c = 1;\n',
      'broker/b.ts': "import { c } from '../client/c.js';\nexport const b = c;\n",
    });
    assert.ok(!r.ok);
    assert.match(r.output, /wire\/a\.ts: wire\/ \(layer 2\) may not import upward from broker\//);
    assert.match(r.output, /broker\/b\.ts: broker\/ may not import client\//);
  });

  it('refuses nats outside bridge/ and any other package in src/', () => {
    const r = check({
      'broker/a.ts': "import { connect } from 'nats';\nexport const a = connect;\n",
      'client/b.ts': "export const b = await import('left-pad');\n",
      'bridge/c.ts': "import x from '@scope/pkg/sub';\nexport const c = x;\n",
    });
    assert.ok(!r.ok);
    assert.match(r.output, /broker\/a\.ts: 'nats' is not a Node built-in/);
    assert.match(r.output, /client\/b\.ts: 'left-pad' is not a Node built-in/);
    assert.match(r.output, /bridge\/c\.ts: '@scope\/pkg\/sub' is not a Node built-in/);
    assert.match(r.output, /layer rule: 3 violation\(s\)/);
  });
});
