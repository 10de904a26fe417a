// Argument checks of the cma API: every invalid argument is refused with a
// TypeError or RangeError before any system call.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { readFrom, writeTo, readFully, copyFromProcess, copyToProcess } from './transfer.js';
import { exposeBuffer, parseExposedRange } from './expose.js';
import { probe } from './probe.js';

const pid = process.pid;
const buf = new Uint8Array(16);
const self = exposeBuffer(buf);
const ok = { address: self.address, length: 16 };

describe('cma argument checks', () => {
  it('refuses a pid that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, NaN, 2 ** 40]) {
      assert.throws(() => readFrom(bad, [ok], [buf]), TypeError);
    }
  });

  it('refuses a negative or fractional length', () => {
    assert.throws(() => copyFromProcess(pid, self.address, -1), RangeError);
    assert.throws(() => copyFromProcess(pid, self.address, 1.5), RangeError);
    assert.throws(() => readFrom(pid, [{ address: self.address, length: -4 }], [buf]), RangeError);
  });

  it('refuses an address that is not a non-negative bigint', () => {
    assert.throws(() => copyFromProcess(pid, 5 as unknown as bigint, 1), TypeError);
    assert.throws(() => copyFromProcess(pid, -5n, 1), RangeError);
    assert.throws(() => copyFromProcess(pid, 1n << 64n, 1), RangeError);
    assert.throws(() => copyFromProcess(pid, (1n << 64n) - 2n, 8), /past the end of the address space/);
  });

  it('refuses a detached buffer', () => {
    const ab = new ArrayBuffer(8);
    structuredClone(ab, { transfer: [ab] });
    assert.throws(() => readFrom(pid, [ok], [new Uint8Array(ab)]), /detached/);
    assert.throws(() => copyToProcess(pid, self.address, new Uint8Array(ab)), /detached/);
  });

  it('refuses a length past the end of the target view', () => {
    assert.throws(() => copyFromProcess(pid, self.address, 17, new Uint8Array(16)), /runs past the end of the target \(16 bytes\)/);
  });

  it('refuses empty iovec lists and non-views', () => {
    assert.throws(() => readFrom(pid, [], [buf]), /remote must list at least one range/);
    assert.throws(() => writeTo(pid, [], [ok]), /local must list at least one view/);
    assert.throws(() => readFrom(pid, [ok], [{} as Uint8Array]), TypeError);
    assert.throws(() => readFrom(pid, ok as never, [buf]), TypeError);
  });

  it('refuses unequal totals in the full forms', () => {
    assert.throws(() => readFully(pid, [ok], [new Uint8Array(8)]), /local views hold 8 bytes but remote ranges hold 16/);
  });

  it('refuses more iovecs than the kernel takes in one call', () => {
    const many = Array.from({ length: 2000 }, () => ({ address: self.address, length: 0 }));
    assert.throws(() => readFrom(pid, many, [buf]), /use readFully/);
  });

  it('copies within its own process, and zero bytes without a system call', () => {
    buf.set([1, 2, 3]);
    assert.deepEqual([...copyFromProcess(pid, self.address, 3)], [1, 2, 3]);
    assert.equal(copyFromProcess(pid, 0n, 0).length, 0);
    copyToProcess(pid, self.address + 1n, Uint8Array.of(9));
    assert.equal(buf[1], 9);
  });

  it('describes an exposed buffer as JSON that parses back', () => {
    const json = JSON.parse(JSON.stringify(self));
    assert.deepEqual(parseExposedRange(json), { pid, address: self.address, length: 16 });
    assert.throws(() => parseExposedRange({ pid, address: '0x10', length: 1 }), /decimal string/);
    assert.throws(() => parseExposedRange(null), TypeError);
  });

  const Resizable = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer;
  const hasResizable = (new Resizable(8, { maxByteLength: 64 }) as { resizable?: boolean }).resizable === true;
  it('refuses to expose a view over a resizable buffer', { skip: !hasResizable && 'this Node has no resizable ArrayBuffer' }, () => {
    const ab = new Resizable(8, { maxByteLength: 64 });
    assert.equal((ab as { resizable?: boolean }).resizable, true);
    assert.throws(() => exposeBuffer(new Uint8Array(ab)), /resizable/);
  });

  it('keeps an exposed buffer from being transferred away', () => {
    const mine = new Uint8Array(32);
    const e = exposeBuffer(mine);
    const { port1, port2 } = new MessageChannel();
    try {
      port1.postMessage(mine.buffer, [mine.buffer]);
    } catch {
      // refusing the transfer is fine too
    } finally {
      port1.close();
      port2.close();
    }
    assert.equal(mine.byteLength, 32);
    // an ordinary buffer is detached by the same transfer (the test can fail)
    const other = new Uint8Array(32);
    structuredClone(other.buffer, { transfer: [other.buffer] });
    assert.equal(other.byteLength, 0);
    e.release();
    assert.equal(e.exposed, false);
    e.release();
  });

  it('checks the range given to probe', () => {
    assert.throws(() => probe(pid, { address: 1 as unknown as bigint, length: 1 }), TypeError);
    assert.deepEqual(probe(pid, ok), { ok: true });
  });
});
