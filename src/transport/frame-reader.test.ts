import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError } from '../errors.js';
import { FrameReader } from './frame-reader.js';
import { frame, serialOf } from '../../test/fixtures/frames.js';

function feed(reader: FrameReader, bytes: Uint8Array, chunk: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < bytes.length;) {
    const region = reader.region();
    const n = Math.min(region.length, chunk, bytes.length - off);
    region.set(bytes.subarray(off, off + n));
    reader.commit(n);
    off += n;
    for (let f; (f = reader.next()) !== null;) out.push(f);
  }
  return out;
}

describe('frame reader', () => {
  it('starts small and grows for messages larger than its first buffer, splitting any chunking exactly', () => {
    const sizes = [10, 40000, 3, 100000, 70000, 0, 5000];
    const all = Buffer.concat(sizes.map((s, i) => frame(i + 1, s)));
    for (const chunk of [1, 7, 4096, 65536, 1 << 20]) {
      const got = feed(new FrameReader(256 * 1024, 1 << 27, 1024), all, chunk);
      assert.deepEqual(got.map((f) => f.length), sizes.map((s) => s + 16), `chunk ${chunk}`);
      got.forEach((f, i) => assert.equal(serialOf(f), i + 1));
    }
  });

  it('hands out views when borrowing and copies otherwise', () => {
    const r = new FrameReader();
    r.borrow = true;
    const [a] = feed(r, frame(1, 8), 100);
    assert.ok(a.byteLength < a.buffer.byteLength);
    const c = new FrameReader();
    const [b] = feed(c, frame(1, 8), 100);
    assert.equal(b.byteLength, b.buffer.byteLength);
  });

  it('gives a large message its own buffer even when borrowing and it arrived whole among others', () => {
    const r = new FrameReader(256 * 1024, 1 << 27, 256 * 1024);
    r.borrow = true;
    const small = frame(1, 10);
    const large = frame(2, 200 * 1024);
    const got = feed(r, Buffer.concat([small, large]), 1 << 20);
    assert.deepEqual(got.map((f) => f.length), [26, 16 + 200 * 1024]);
    assert.equal(got[1].byteOffset, 0);
    assert.notEqual(got[1].buffer, got[0].buffer);
    // Later reads into the receive buffer leave it alone.
    feed(r, frame(9, 100 * 1024), 1 << 20);
    assert.equal(serialOf(got[1]), 2);
    assert.equal(got[1][got[1].length - 1], 2);
  });

  it('shares one receive buffer between idle readers and keeps what each has left of a message its own', () => {
    const a = new FrameReader(256 * 1024, 1 << 27, 1024, true);
    const b = new FrameReader(256 * 1024, 1 << 27, 1024, true);
    a.borrow = b.borrow = true;
    // Both idle: they read into the same buffer.
    assert.equal(a.region().buffer, b.region().buffer);
    // a reads one whole message and half of the next, b then reads into the shared buffer.
    const fa = Buffer.concat([frame(1, 100), frame(2, 3000)]);
    const ra = a.region();
    ra.set(fa.subarray(0, 116 + 1500));
    a.commit(116 + 1500);
    assert.equal(a.next()?.length, 116);
    assert.equal(a.next(), null);
    const rb = b.region();
    rb.fill(0xee);
    const fb = frame(7, 50);
    rb.set(fb);
    b.commit(fb.length);
    const mb = b.next()!;
    assert.equal(mb.length, 66);
    assert.equal(serialOf(mb), 7);
    assert.equal(b.next(), null);
    // a's half message survived b's read, and completes.
    const rest = fa.subarray(116 + 1500);
    const ra2 = a.region();
    ra2.set(rest);
    a.commit(rest.length);
    const m2 = a.next()!;
    assert.equal(m2.length, 3016);
    assert.equal(serialOf(m2), 2);
    assert.ok(m2.subarray(16).every((x) => x === 2));
  });

  it('keeps whole messages a paused owner left behind when it detaches', () => {
    const a = new FrameReader(256 * 1024, 1 << 27, 1024, true);
    const b = new FrameReader(256 * 1024, 1 << 27, 1024, true);
    const all = Buffer.concat([frame(1, 10), frame(2, 20), frame(3, 30)]);
    a.region().set(all);
    a.commit(all.length);
    assert.equal(a.next()?.length, 26);
    a.detach();
    const r = b.region();
    r.fill(0);
    b.commit(0);
    assert.deepEqual([a.next()?.length, a.next()?.length, a.next()], [36, 46, null]);
  });

  it('goes back to the shared buffer once the pushed bytes (a handshake leftover) are taken, and keeps a pushed partial message until it completes', () => {
    const a = new FrameReader(256 * 1024, 1 << 27, 1024, true);
    const b = new FrameReader(256 * 1024, 1 << 27, 1024, true);
    const whole = frame(1, 40);
    const next = frame(2, 3000);
    a.push(Buffer.concat([whole, next.subarray(0, 100)]));
    assert.equal(a.next()?.length, 56);
    assert.equal(a.next(), null);
    // The half message lives in a's own buffer while b reads into the shared one.
    const rb = b.region();
    rb.fill(0xee);
    b.commit(0);
    const ra = a.region();
    assert.notEqual(ra.buffer, b.region().buffer);
    ra.set(next.subarray(100));
    a.commit(next.length - 100);
    const m = a.next()!;
    assert.equal(m.length, 3016);
    assert.ok(m.subarray(16).every((x) => x === 2));
    assert.equal(a.next(), null);
    // Its own buffer grew for that message (not made by push): it keeps it.
    assert.notEqual(a.region().buffer, b.region().buffer);
    // A reader pushed only whole messages reads into the shared buffer after taking them.
    const c = new FrameReader(256 * 1024, 1 << 27, 1024, true);
    c.push(Buffer.concat([frame(3, 8), frame(4, 8)]));
    assert.deepEqual([c.next()?.length, c.next()?.length, c.next()], [24, 24, null]);
    assert.equal(c.region().buffer, b.region().buffer);
  });

  it('refuses a message over the limit before buffering it', () => {
    const r = new FrameReader(1024, 100);
    assert.throws(() => feed(r, frame(1, 85), 100), (e: unknown) => e instanceof ProtocolError && e.code === 'MESSAGE_TOO_LONG');
  });
});
