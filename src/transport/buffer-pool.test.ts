import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool } from './buffer-pool.js';

describe('buffer pool', () => {
  it('hands out a view of exactly the size asked, and reuses a buffer given back', () => {
    const pool = new BufferPool();
    const a = pool.acquire(1_000_001);
    assert.equal(a.length, 1_000_001);
    assert.equal(a.byteOffset, 0);
    pool.release(a);
    assert.ok(pool.idleSizeBytes >= 1_000_001);
    const b = pool.acquire(900_000);
    assert.equal(b.buffer, a.buffer);
    assert.equal(b.length, 900_000);
    assert.equal(pool.idleSizeBytes, 0);
    // A different class does not get it.
    pool.release(b);
    assert.notEqual(pool.acquire(3_000_000).buffer, a.buffer);
    pool.clear();
  });

  it('ignores buffers it could not have made, and keeps at most 64 MiB idle', () => {
    const pool = new BufferPool();
    pool.release(new Uint8Array(100_000));
    pool.release(new Uint8Array(new ArrayBuffer(1 << 20), 16, 1000));
    assert.equal(pool.idleSizeBytes, 0);
    const big = Array.from({ length: 5 }, () => pool.acquire(16 << 20));
    for (const b of big) pool.release(b);
    assert.ok(pool.idleSizeBytes <= 64 << 20);
    pool.clear();
    assert.equal(pool.idleSizeBytes, 0);
  });
});
