// Cross-memory attach between real processes: a child exposes buffers, this
// process reads and writes them with both API forms.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  readFrom, writeTo, readFully, writeFully, copyFromProcess, copyToProcess, exposeBuffer, probe,
  CmaPermissionError, ProcessGoneError, BadAddressError, IOV_MAX, type RemoteRange,
} from '../src/cma/index.js';
import { Peer } from './cma-peer.js';
import { countMismatches, fillPattern } from './fixtures/cma-peer.js';
import { NOBODY, otherUidSkip, readableCopy } from './fixtures/other-uid.js';

type Alloc = { id: number; range: { pid: number; address: string; length: number } };
const remoteOf = (a: Alloc): RemoteRange => ({ address: BigInt(a.range.address), length: a.range.length });

describe('cma between two processes', { timeout: 60_000 }, () => {
  let peer: Peer;
  before(async () => { peer = await Peer.start(); });
  after(async () => { await peer.stop(); });

  const sizes = [0, 1, 7, 4096, 65_537, 1 << 20, (16 << 20) + 3, 64 << 20];
  for (const size of sizes) {
    it(`reads and writes ${size} bytes at an unaligned offset with both forms`, async () => {
      const a: Alloc = await peer.request({ op: 'alloc', size, seed: 3, offset: 5 });
      const remote = remoteOf(a);
      // simple form into a view inside a larger buffer
      const big = new Uint8Array(size + 11);
      const got = copyFromProcess(peer.pid, remote.address, size, new Uint8Array(big.buffer, 3, size));
      assert.equal(got.byteOffset, 3);
      assert.equal(countMismatches(got, 3), 0);
      // iovec form back the other way with a new pattern
      const src = new Uint8Array(size);
      fillPattern(src, 9);
      assert.equal(writeFully(peer.pid, [src], [remote]), size);
      assert.equal((await peer.request({ op: 'check', id: a.id, seed: 9 })).mismatches, 0);
      const again = new Uint8Array(size);
      assert.equal(readFully(peer.pid, [remote], [again]), size);
      assert.equal(countMismatches(again, 9), 0);
      await peer.request({ op: 'release', id: a.id });
    });
  }

  it('scatters and gathers across many iovecs on both sides, beyond IOV_MAX', async () => {
    const size = 3000 * 17;
    const a: Alloc = await peer.request({ op: 'alloc', size, seed: 1, offset: 1 });
    const base = BigInt(a.range.address);
    // remote: 3000 ranges of 17 bytes, listed in order; local: uneven pieces
    const remote: RemoteRange[] = Array.from({ length: 3000 }, (_, i) => ({ address: base + BigInt(i * 17), length: 17 }));
    const whole = new Uint8Array(size);
    const local: Uint8Array[] = [];
    for (let off = 0; off < size;) {
      const len = Math.min(size - off, 1 + (off % 23));
      local.push(whole.subarray(off, off + len));
      off += len;
    }
    assert.ok(remote.length > IOV_MAX && local.length > IOV_MAX);
    assert.equal(readFully(peer.pid, remote, local), size);
    assert.equal(countMismatches(whole, 1), 0);
    // one call of the kernel's form moves what fits in IOV_MAX iovecs: the first 100 ranges, in order
    const partial = new Uint8Array(100 * 17);
    assert.equal(readFrom(peer.pid, remote.slice(0, 100), [partial]), 100 * 17);
    assert.equal(countMismatches(partial, 1), 0, 'the partial read holds the first 1700 bytes of the peer buffer');
    // the write side, beyond IOV_MAX on both sides: the peer checks every byte
    const next = new Uint8Array(size);
    fillPattern(next, 5);
    const pieces: Uint8Array[] = [];
    for (let off = 0; off < size;) {
      const len = Math.min(size - off, 1 + ((off * 7) % 19));
      pieces.push(next.subarray(off, off + len));
      off += len;
    }
    assert.ok(pieces.length > IOV_MAX);
    assert.equal(writeFully(peer.pid, pieces, remote), size);
    assert.equal((await peer.request({ op: 'check', id: a.id, seed: 5 })).mismatches, 0, 'the peer holds the gathered write');
    // two local pieces scattered into one remote range: exactly the first 17 bytes change
    const head = new Uint8Array(17);
    fillPattern(head, 6);
    assert.equal(writeTo(peer.pid, [head.subarray(0, 10), head.subarray(10)], [{ address: base, length: 17 }]), 17);
    // every byte of seed 6 differs from seed 5's at the same index, so this counts what was not written
    assert.equal((await peer.request({ op: 'check', id: a.id, seed: 6 })).mismatches, size - 17, 'the first 17 bytes, and no more, are the new ones');
    await peer.request({ op: 'release', id: a.id });
  });

  it('reads into DataViews and typed arrays of wider elements', async () => {
    const a: Alloc = await peer.request({ op: 'alloc', size: 64, seed: 2, offset: 0 });
    const u32 = new Uint32Array(16);
    assert.equal(readFrom(peer.pid, [remoteOf(a)], [u32]), 64);
    assert.equal(countMismatches(new Uint8Array(u32.buffer), 2), 0);
    const dv = new DataView(new ArrayBuffer(80), 16, 64);
    assert.equal(readFrom(peer.pid, [remoteOf(a)], [dv]), 64);
    assert.equal(countMismatches(new Uint8Array(dv.buffer, 16, 64), 2), 0);
  });

  it('probes a peer successfully by a real read', async () => {
    const a: Alloc = await peer.request({ op: 'alloc', size: 16, seed: 0, offset: 0 });
    assert.deepEqual(probe(peer.pid, remoteOf(a)), { ok: true });
  });

  it('gives BadAddressError naming the range for an unmapped address', () => {
    const address = 0x10n; // the first page is never mapped
    assert.throws(() => copyFromProcess(peer.pid, address, 8), (e: unknown) => {
      assert.ok(e instanceof BadAddressError);
      assert.equal(e.code, 'EFAULT');
      assert.equal(e.address, address);
      assert.match(e.message, /0x10\.\.0x18 \(8 bytes\) of process \d+ are not mapped/);
      return true;
    });
    const p = probe(peer.pid, { address, length: 8 });
    assert.equal(p.ok, false);
    assert.equal(!p.ok && p.code, 'EFAULT');
  });

  it('gives BadAddressError at the point where a range stops being mapped', async () => {
    const a: Alloc = await peer.request({ op: 'alloc', size: 4096, seed: 0, offset: 0 });
    const remote: RemoteRange[] = [remoteOf(a), { address: 0x20n, length: 16 }];
    assert.throws(() => readFully(peer.pid, remote, [new Uint8Array(4096 + 16)]), (e: unknown) => e instanceof BadAddressError && e.address === 0x20n);
  });
});

describe('cma with a process that is gone', { timeout: 30_000 }, () => {
  it('gives ProcessGoneError for a peer that has exited', async () => {
    const peer = await Peer.start();
    const a: Alloc = await peer.request({ op: 'alloc', size: 32, seed: 0, offset: 0 });
    await peer.stop();
    assert.throws(() => readFrom(peer.pid, [remoteOf(a)], [new Uint8Array(32)]), (e: unknown) => {
      assert.ok(e instanceof ProcessGoneError);
      assert.equal(e.code, 'ESRCH');
      assert.match(e.message, new RegExp(`process ${peer.pid} does not exist`));
      return true;
    });
    const p = probe(peer.pid, remoteOf(a));
    assert.ok(!p.ok && p.code === 'ESRCH');
  });
});

describe('cma across users', { timeout: 30_000 }, () => {
  const isRoot = process.getuid?.() === 0;

  it('gives CmaPermissionError, saying what is missing, to a process of another user', { skip: otherUidSkip() }, async (t) => {
    // The child runs as nobody, from a copy it can read, and reads this (root) process's memory.
    const copy = readableCopy(['test/fixtures/cma-peer.js']);
    t.after(() => copy.remove());
    const peer = await Peer.start({ ...NOBODY, cwd: copy.root }, copy.path('test/fixtures/cma-peer.js'));
    t.after(() => peer.stop());
    const mine = new Uint8Array(64);
    const exposed = exposeBuffer(mine);
    const r = await peer.request({ op: 'read', pid: process.pid, address: exposed.address.toString(), length: 64 });
    exposed.release();
    assert.equal(r.ok, false);
    assert.equal(r.name, 'CmaPermissionError');
    assert.equal(r.code, 'EPERM');
    assert.match(r.message, /process_vm_readv of process \d+ was refused \(EPERM\): process \d+ runs as uid 0 and this process as uid 65534 without CAP_SYS_PTRACE/);
  });

  it('gives CmaPermissionError when an ordinary user reads a root process', { skip: isRoot && 'runs as an ordinary user only' }, () => {
    assert.throws(() => copyFromProcess(1, 0x400000n, 8), (e: unknown) => e instanceof CmaPermissionError && /CAP_SYS_PTRACE/.test(e.message));
  });
});
