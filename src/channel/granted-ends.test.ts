import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as n from '../native/native.js';
import { GrantState, openGranted } from './granted-ends.js';
import { GrantedTraffic, makeGrantedFds } from './granted-fds.js';
import { createSegment, segmentSizeBytes } from './segment.js';

describe('channels made for two other processes', () => {
  it('seals the segment it makes against shrinking and growing, so no end can make the maker\'s reads fault', () => {
    const fds = makeGrantedFds(4096);
    const traffic = new GrantedTraffic(fds.memfd, 4096);
    try {
      const seals = n.memfdGetSeals(fds.memfd);
      assert.equal(seals & (n.F_SEAL_SHRINK | n.F_SEAL_GROW | n.F_SEAL_SEAL), n.F_SEAL_SHRINK | n.F_SEAL_GROW | n.F_SEAL_SEAL);
      // What a hostile end would try with the fd it was passed.
      assert.equal(n.memfdTruncate(fds.memfd, 0), -1); // EPERM
      assert.equal(n.memfdTruncate(fds.memfd, segmentSizeBytes(4096) * 2), -1);
      assert.equal(n.check(n.fdSize(fds.memfd), 'fstat'), segmentSizeBytes(4096));
      assert.equal(traffic.bytesFrom(0), 0);
      assert.equal(traffic.bytesFrom(1), 0);
    } finally {
      traffic.close();
      for (const fd of [fds.memfd, fds.efd0, fds.efd1, ...fds.socks]) n.fdClose(fd);
    }
  });

  it('lets the maker revoke a channel it made, each end reading the flag, and each end publish its rules version to the other', () => {
    const fds = makeGrantedFds(4096);
    const traffic = new GrantedTraffic(fds.memfd, 4096);
    const ends = [new GrantState(fds.memfd, 0), new GrantState(fds.memfd, 1)];
    try {
      assert.deepEqual(ends.map((e) => e.revoked), [false, false]);
      traffic.revoke();
      assert.deepEqual(ends.map((e) => e.revoked), [true, true]);
      ends[0].rulesVersion = 7;
      assert.deepEqual(ends.map((e) => e.peerRulesVersion), [0, 7], 'each side reads the other\'s rules version');
      ends[0].close();
      assert.equal(ends[0].revoked, false, 'a closed view reads nothing');
    } finally {
      traffic.close();
      for (const e of ends) e.close();
      for (const fd of [fds.memfd, fds.efd0, fds.efd1, ...fds.socks]) n.fdClose(fd);
    }
  });

  it('closes the fds it was given when the channel refuses its options', () => {
    const fds = makeGrantedFds(4096);
    n.fdClose(fds.socks[1]);
    const side = { side: 0 as const, memfd: fds.memfd, efd0: fds.efd0, efd1: fds.efd1, sock: fds.socks[0] };
    assert.throws(() => openGranted(side, process.pid, { pollUs: -1 }), RangeError);
    for (const fd of [fds.memfd, fds.efd0, fds.efd1, fds.socks[0]]) assert.ok(n.fdSize(fd) < 0, `fd ${fd} is still open`);
  });

  it('leaves a channel\'s own segment unsealed (its two ends made it between them)', () => {
    const seg = createSegment(4096);
    try {
      assert.equal(n.memfdGetSeals(seg.fd) & n.F_SEAL_SHRINK, 0);
    } finally {
      n.shmUnmap(seg.buffer);
      n.fdClose(seg.fd);
    }
  });
});
