import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ProtocolError } from '../errors.js';
import * as n from '../native/native.js';
import { connect } from './connect.js';
import { createSegment, attachSegment, SegmentError, LAYOUT_VERSION, DATA_OFFSET } from './segment.js';

const cleanups: Array<() => void> = [];

/** A listener that hands each connecting peer whatever `handOver` gives it: a stand-in for a foreign or broken server. */
function fakeListener(handOver: (cfd: number) => void): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'fastbus-segment-'));
  const sock = path.join(dir, 's');
  const fd = n.check(n.sockOpen(n.SOCK_SEQPACKET), 'socket');
  n.check(n.sockBind(fd, Buffer.from(sock)), 'bind');
  n.check(n.sockListen(fd, 4), 'listen');
  const poll = n.pollOpen(fd, n.POLL_READABLE, () => {
    const cfd = n.sockAccept(fd);
    if (cfd >= 0) {
      cleanups.push(() => n.fdClose(cfd));
      handOver(cfd);
    }
  });
  cleanups.push(() => { n.pollClose(poll); n.fdClose(fd); rmSync(dir, { recursive: true, force: true }); });
  return sock;
}

function hello(cfd: number, memfd: number): void {
  const efds = [n.efdOpen(0), n.efdOpen(0)];
  n.check(n.sockSend(cfd, [Buffer.from(JSON.stringify({ t: 'hello', v: LAYOUT_VERSION }))], Int32Array.of(memfd, ...efds)), 'sendmsg');
  for (const fd of efds) n.fdClose(fd);
}

describe('channel segment', () => {
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it('attaches to a segment it created, with the same sizes', () => {
    const a = createSegment(8192);
    const b = attachSegment(a.fd);
    assert.equal(b.ringBytes, 8192);
    assert.equal(b.sizeBytes, DATA_OFFSET + 2 * 8192);
    n.shmUnmap(a.buffer);
    n.shmUnmap(b.buffer);
    n.fdClose(a.fd);
  });

  it('refuses ring sizes that are not a power of two in range', () => {
    assert.throws(() => createSegment(5000), /power of two/);
    assert.throws(() => createSegment(1024), /power of two/);
  });

  it('refuses a foreign file with a clear error, at connect', { timeout: 10_000 }, async () => {
    const sock = fakeListener((cfd) => {
      const memfd = n.memfdOpen('not-a-channel', false);
      n.memfdTruncate(memfd, 3 * 4096);
      n.fdWrite(memfd, Buffer.from('definitely not a fastbus segment'));
      hello(cfd, memfd);
      n.fdClose(memfd);
    });
    await assert.rejects(connect(sock), (e: unknown) => e instanceof SegmentError && e.code === 'BAD_MAGIC' && /not a fastbus channel segment/.test(e.message));
  });

  it('refuses a segment of another layout version, naming both versions', { timeout: 10_000 }, async () => {
    const sock = fakeListener((cfd) => {
      const seg = createSegment(4096);
      new Uint32Array(seg.buffer)[1] = LAYOUT_VERSION + 1;
      hello(cfd, seg.fd);
      n.shmUnmap(seg.buffer);
      n.fdClose(seg.fd);
    });
    await assert.rejects(connect(sock), (e: unknown) => e instanceof SegmentError && e.code === 'BAD_VERSION' && e.message.includes(`version ${LAYOUT_VERSION + 1}`));
  });

  it('refuses a listener of the layout before handles frames (version 1), naming both versions', { timeout: 10_000 }, async () => {
    assert.ok(LAYOUT_VERSION > 1);
    const sock = fakeListener((cfd) => {
      const seg = createSegment(4096);
      new Uint32Array(seg.buffer)[1] = 1;
      const efds = [n.efdOpen(0), n.efdOpen(0)];
      n.check(n.sockSend(cfd, [Buffer.from(JSON.stringify({ t: 'hello', v: 1 }))], Int32Array.of(seg.fd, ...efds)), 'sendmsg');
      for (const fd of [seg.fd, ...efds]) n.fdClose(fd);
      n.shmUnmap(seg.buffer);
    });
    await assert.rejects(connect(sock), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_HANDSHAKE'
      && e.message.includes(`speaks channel layout version 1, this fastbus speaks ${LAYOUT_VERSION}`));
  });

  it('closes the segment and doorbells it received when the channel refuses its options, at connect', { timeout: 10_000 }, async () => {
    // Every fd of this kind in this process: the fake listener closes its own copies once it has sent them.
    const channelFds = (): number => readdirSync('/proc/self/fd').filter((fd) => {
      try { return /memfd:fastbus-channel|eventfd/.test(readlinkSync(`/proc/self/fd/${fd}`)); } catch { return false; }
    }).length;
    const before = channelFds();
    const sock = fakeListener((cfd) => {
      const seg = createSegment(4096);
      hello(cfd, seg.fd);
      n.shmUnmap(seg.buffer);
      n.fdClose(seg.fd);
    });
    await assert.rejects(connect(sock, { pollUs: -1 }), RangeError);
    assert.equal(channelFds(), before);
  });

  it('refuses a segment whose sizes do not match its file', { timeout: 10_000 }, async () => {
    const sock = fakeListener((cfd) => {
      const seg = createSegment(4096);
      n.memfdTruncate(seg.fd, DATA_OFFSET + 4096);
      hello(cfd, seg.fd);
      n.fdClose(seg.fd);
    });
    await assert.rejects(connect(sock), (e: unknown) => e instanceof SegmentError && e.code === 'BAD_LAYOUT');
  });

  it('refuses a listener that is not a channel listener', { timeout: 10_000 }, async () => {
    const sock = fakeListener((cfd) => { n.sockSend(cfd, [Buffer.from('SSH-2.0-OpenSSH')], null); });
    await assert.rejects(connect(sock), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_HANDSHAKE');
  });

  it('closes with an error, not a crash, when the ring holds a corrupt frame', { timeout: 10_000 }, async () => {
    let ring: ((length: number) => void) | null = null;
    const sock = fakeListener((cfd) => {
      const seg = createSegment(4096);
      const efds = [n.efdOpen(0), n.efdOpen(0)];
      n.check(n.sockSend(cfd, [Buffer.from(JSON.stringify({ t: 'hello', v: LAYOUT_VERSION }))], Int32Array.of(seg.fd, ...efds)), 'sendmsg');
      ring = (length) => {
        // A frame claiming more bytes than were published, in ring 0 (listener -> connector).
        const i32 = new Int32Array(seg.buffer);
        const data = seg.rings[0].data >> 2;
        i32[data] = length;
        i32[data + 1] = 1;
        Atomics.store(i32, seg.rings[0].tail >> 2, 16);
        n.efdSignal(efds[1], 1);
      };
    });
    const channel = await connect(sock);
    channel.on('message', () => assert.fail('a corrupt frame must not be delivered'));
    const closing = once(channel, 'close');
    ring!(100_000);
    const [reason, error] = await closing as [string, Error];
    assert.equal(reason, 'error');
    assert.ok(error instanceof ProtocolError && error.code === 'CORRUPT_SEGMENT', String(error));
  });
});
