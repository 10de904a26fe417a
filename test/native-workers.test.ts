// The addon loaded in worker threads as well as the main thread: each is its
// own Node-API environment, and one ending (by returning or by terminate())
// must leave the pollers and the loop of the others working.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const fixture = fileURLToPath(new URL('./fixtures/native-workers.js', import.meta.url));

describe('the addon in worker threads', { timeout: 60_000 }, () => {
  it('keeps the pollers of the main thread and of a live worker firing and releasing their callbacks after workers end, and the process exits cleanly', async () => {
    const child = spawn(process.execPath, ['--expose-gc', fixture], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    // 'close', not 'exit': only then has all of the child's output been read.
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (c, s) => resolve([c, s])));
    assert.equal(stderr, '');
    assert.deepEqual(stdout.trim().split('\n'), [
      'live worker ready',
      'worker return ended',
      'main poller released after worker return',
      'worker terminate ended',
      'main poller released after worker terminate',
      'worker spin ended',
      'main poller released after worker spin',
      'main poller opened before the workers fired',
      'live worker poller released',
      'ok',
    ]);
    assert.deepEqual([code, signal], [0, null]);
  });
});
