// Channel.trySendPieces: a large message given in pieces goes into the
// payload arena piece by piece and arrives as one byte message, equal to the
// pieces joined, in order with the messages around it; a message the arena
// does not take (small, or with sends queued) is refused and nothing is sent.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, listen, type Channel } from './index.js';

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

describe('Channel.trySendPieces', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fastbus-pieces-'));
  const ends: Channel[] = [];
  after(async () => {
    await Promise.all(ends.map((c) => c.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('delivers the pieces of a large message joined, in order with the messages around it', { timeout: 30_000 }, async () => {
    const server = listen(path.join(dir, 'a.sock'));
    const accepted = once(server, 'connection') as Promise<[Channel]>;
    const client = await connect(path.join(dir, 'a.sock'));
    const [receiver] = await accepted;
    server.close();
    ends.push(client, receiver);
    const got: Uint8Array[] = [];
    const all = new Promise<void>((resolve) => receiver.on('message', (m: Uint8Array) => {
      got.push(Uint8Array.from(m));
      if (got.length === 4) resolve();
    }));
    const pieces = [pattern(100, 1), pattern(300_000, 2), pattern(13, 3), pattern(1 << 20, 4), pattern(7, 5)];
    const total = pieces.reduce((n, p) => n + p.length, 0);
    assert.equal(client.trySend(pattern(10, 9)), true);
    assert.equal(client.trySendPieces(pieces, total), true);
    assert.equal(client.trySendPieces(pieces.slice(1, 3), 300_013), true);
    assert.equal(client.trySend(pattern(20, 8)), true);
    await all;
    assert.deepEqual(got[0], pattern(10, 9));
    assert.deepEqual(Buffer.from(got[1]), Buffer.concat(pieces));
    assert.deepEqual(Buffer.from(got[2]), Buffer.concat(pieces.slice(1, 3)));
    assert.deepEqual(got[3], pattern(20, 8));
    assert.equal(client.stats.arenaTransfers, 2, 'both large messages went through the arena');
  });

  it('refuses a message at or below the large-payload threshold, sending nothing', { timeout: 30_000 }, async () => {
    const server = listen(path.join(dir, 'b.sock'));
    const accepted = once(server, 'connection') as Promise<[Channel]>;
    const client = await connect(path.join(dir, 'b.sock'));
    const [receiver] = await accepted;
    server.close();
    ends.push(client, receiver);
    assert.equal(client.trySendPieces([pattern(100, 1), pattern(100, 2)], 200), false);
    const next = once(receiver, 'message') as Promise<[Uint8Array]>;
    assert.equal(client.trySend(pattern(5, 6)), true);
    assert.deepEqual(Uint8Array.from((await next)[0]), pattern(5, 6), 'the first message the receiver sees is the one sent after');
    assert.equal(client.stats.messagesSent, 1);
  });
});
