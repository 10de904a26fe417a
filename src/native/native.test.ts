import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as n from './native.js';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SystemError } from '../errors.js';

describe('native', () => {
  it('turns -errno into a SystemError with code, syscall and errno', () => {
    const r = n.fdClose(987654);
    assert.equal(r, -9);
    assert.throws(() => n.check(r, 'close'), (e: unknown) => e instanceof SystemError && e.code === 'EBADF' && e.syscall === 'close' && e.errno === 9);
  });

  it('maps a memfd as an ArrayBuffer shared by two mappings, and detaches it at unmap', () => {
    const fd = n.check(n.memfdOpen('fastbus-test', true), 'memfd_create');
    n.check(n.memfdTruncate(fd, 4096), 'ftruncate');
    const a = n.shmMap(fd, 4096, true);
    const b = n.shmMap(fd, 4096, true);
    new Uint32Array(a)[10] = 0xdeadbeef;
    assert.equal(new Uint32Array(b)[10], 0xdeadbeef);
    assert.equal(n.shmUnmap(a), 0);
    assert.equal(a.byteLength, 0);
    assert.equal(n.shmUnmap(a), -n.EINVAL);
    assert.equal(n.shmUnmap(b), 0);
    assert.equal(n.fdSize(fd), 4096);
    n.fdClose(fd);
  });

  it('lends private memory as new ArrayBuffers, counts them until V8 frees them, and refuses to unmap under one', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const region = n.anonMap(1 << 20);
    assert.equal(n.anonAdvise(region, n.MADV_POPULATE_WRITE), 0);
    let a: Uint8Array | null = new Uint8Array(n.anonLend(region, 1000));
    const b = new Uint8Array(n.anonLend(region, 1 << 20));
    assert.equal(a.byteLength, 1000);
    a[5] = 42;
    assert.equal(b[5], 42, 'both are the same memory');
    assert.equal(n.addressOf(a), n.addressOf(b));
    assert.equal(n.anonLent(region), 2);
    assert.throws(() => n.anonLend(region, (1 << 20) + 1), (e: unknown) => e instanceof SystemError && e.code === 'EINVAL');
    a = null;
    while (n.anonLent(region) !== 1) {
      gc();
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(n.anonUnmap(region), -n.EBUSY, 'b is still alive');
    assert.equal(b[5], 42);
    b.fill(0);
  });

  it('unmaps a region once nothing is lent over it, and lends nothing from it after', () => {
    const region = n.anonMap(4096);
    assert.equal(n.anonUnmap(region), 0);
    assert.equal(n.anonUnmap(region), -n.EINVAL);
    assert.equal(n.anonAdvise(region, n.MADV_POPULATE_WRITE), -n.EINVAL);
    assert.throws(() => n.anonLend(region, 10), (e: unknown) => e instanceof SystemError && e.code === 'EINVAL');
    assert.throws(() => n.anonMap(0), RangeError);
  });

  it('passes file descriptors and bytes over a socketpair', () => {
    const pair = new Int32Array(2);
    n.check(n.sockPair(n.SOCK_STREAM, pair), 'socketpair');
    const efd = n.check(n.efdOpen(0), 'eventfd');
    assert.equal(n.sockSend(pair[0], [Buffer.from('hello')], Int32Array.of(efd)), 5);
    const state = new Int32Array(2 + 4);
    const buf = Buffer.alloc(16);
    assert.equal(n.sockRecv(pair[1], buf, state), 5);
    assert.equal(buf.subarray(0, 5).toString(), 'hello');
    assert.equal(state[0], 1);
    const received = state[2];
    n.check(n.efdSignal(received, 3), 'write');
    assert.equal(n.efdDrain(efd), 3);
    assert.equal(n.efdDrain(efd), -n.EAGAIN);
    const cred = new Int32Array(3);
    n.check(n.sockPeercred(pair[1], cred), 'getsockopt');
    assert.equal(cred[0], process.pid);
    for (const fd of [pair[0], pair[1], efd, received]) n.fdClose(fd);
  });

  it('reports readiness through a libuv poller', async () => {
    const efd = n.check(n.efdOpen(0), 'eventfd');
    const fired = new Promise<number>((resolve) => {
      const h = n.pollOpen(efd, n.POLL_READABLE, (status, events) => {
        n.pollClose(h);
        resolve(status === 0 ? events : status);
      });
      assert.equal(typeof h, 'object');
    });
    n.efdSignal(efd, 1);
    assert.equal((await fired) & n.POLL_READABLE, n.POLL_READABLE);
    n.fdClose(efd);
  });

  it('refuses a polling window that is not a whole number of microseconds up to one second', () => {
    for (const bad of [-1, 1.5, 1_000_001, Number.NaN]) assert.throws(() => n.loopSpin(bad), RangeError);
  });

  it('keeps the loop polling after activity, catches events without sleeping, and stops when set to 0', async () => {
    // A window of up to 1 s: every event below follows the previous callback within it,
    // so the window grows and later events arrive while the loop polls.
    n.loopSpin(1_000_000);
    const efd = n.check(n.efdOpen(0), 'eventfd');
    const before = n.loopSpinStats();
    let left = 50;
    await new Promise<void>((resolve) => {
      const h = n.pollOpen(efd, n.POLL_READABLE, () => {
        n.efdDrain(efd);
        if (--left > 0) n.efdSignal(efd, 1);
        else {
          n.pollClose(h);
          resolve();
        }
      });
      n.efdSignal(efd, 1);
    });
    const after = n.loopSpinStats();
    assert.ok(after.windowUs > 0, `window ${after.windowUs} µs`);
    assert.ok(after.caught > before.caught, 'no event arrived while polling');
    assert.equal(after.caught - before.caught + after.woken - before.woken, 50);
    n.loopSpin(0);
    assert.equal(n.loopSpinStats().windowUs, 0);
    n.fdClose(efd);
  });

  it('counts events that come in the same batch as the wake-up as woken, not as caught while polling', async () => {
    n.loopSpin(0);
    // Two loop turns: the idle phase of the second stops any polling left from before.
    for (let turn = 0; turn < 2; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
    n.loopSpin(1_000_000);
    const efds = [n.check(n.efdOpen(0), 'eventfd'), n.check(n.efdOpen(0), 'eventfd')];
    const before = n.loopSpinStats();
    // Both fds are readable before the loop polls again, so one epoll_wait returns both:
    // the first event starts polling, the second only shares its wake-up.
    const fired = efds.map((efd) => new Promise<void>((resolve) => {
      const h = n.pollOpen(efd, n.POLL_READABLE, () => {
        n.pollClose(h);
        resolve();
      });
    }));
    for (const efd of efds) n.efdSignal(efd, 1);
    await Promise.all(fired);
    for (const efd of efds) n.fdClose(efd);
    const after = n.loopSpinStats();
    n.loopSpin(0);
    assert.deepEqual({ caught: after.caught - before.caught, woken: after.woken - before.woken }, { caught: 0, woken: 2 });
  });

  it('halves the window when an event comes later than the maximum after the previous one, though the loop was busy when the window ended', async () => {
    const maxUs = 2000;
    n.loopSpin(maxUs);
    const efd = n.check(n.efdOpen(0), 'eventfd');
    // Events back to back open a window (each follows the previous well within the maximum) ...
    let left = 50;
    let grown = 0;
    await new Promise<void>((resolve) => {
      const h = n.pollOpen(efd, n.POLL_READABLE, () => {
        n.efdDrain(efd);
        if (--left > 0) n.efdSignal(efd, 1);
        else if (left === 0) {
          grown = n.loopSpinStats().windowUs;
          // ... then JavaScript holds the loop past twice the maximum, and the next event follows:
          // a window of up to the maximum could not have caught it.
          setImmediate(() => {
            const until = process.hrtime.bigint() + BigInt(2 * maxUs * 1000);
            while (process.hrtime.bigint() < until);
            n.efdSignal(efd, 1);
          });
        } else {
          n.pollClose(h);
          resolve();
        }
      });
      n.efdSignal(efd, 1);
    });
    const after = n.loopSpinStats();
    n.loopSpin(0);
    n.fdClose(efd);
    assert.ok(grown > 0, 'no window opened');
    assert.equal(after.windowUs, grown / 2 < 10 ? 0 : grown / 2);
  });

  it('gives a poller opened with a maximum a polling window of its own, and leaves the thread\'s alone', async () => {
    n.loopSpin(0);
    const thread = n.loopSpinStats();
    const efd = n.check(n.efdOpen(0), 'eventfd');
    let left = 50;
    let own = { windowUs: 0, caught: 0, woken: 0 };
    // Each event follows the previous callback at once, well within the maximum of 1 s:
    // the window grows, and later events arrive while the loop polls for this poller.
    await new Promise<void>((resolve) => {
      const h = n.pollOpen(efd, n.POLL_READABLE, () => {
        n.efdDrain(efd);
        if (--left > 0) return void n.efdSignal(efd, 1);
        own = n.pollSpinStats(h);
        n.pollClose(h);
        resolve();
      }, 1_000_000);
      n.efdSignal(efd, 1);
    });
    n.fdClose(efd);
    assert.ok(own.windowUs > 0, `window ${own.windowUs} µs`);
    assert.ok(own.caught > 0, 'no event arrived while polling');
    assert.equal(own.caught + own.woken, 50);
    assert.deepEqual(n.loopSpinStats(), thread);
  });

  it('refuses a poller window out of range, and the stats of a poller that has none of its own', () => {
    const efd = n.check(n.efdOpen(0), 'eventfd');
    for (const bad of [-1, 1.5, 1_000_001]) assert.throws(() => n.pollOpen(efd, n.POLL_READABLE, () => {}, bad), RangeError);
    const h = n.pollOpen(efd, n.POLL_READABLE, () => {});
    assert.throws(() => n.pollSpinStats(h), (e: unknown) => e instanceof SystemError && e.code === 'EINVAL');
    n.pollClose(h);
    n.fdClose(efd);
  });

  it('refuses to close an fd that a poller still watches, and closes it once the poller is closed', () => {
    // libuv keeps a watcher for the fd's number: a new fd with that number would be refused (EEXIST).
    const efd = n.check(n.efdOpen(0), 'eventfd');
    const h = n.pollOpen(efd, n.POLL_READABLE, () => {});
    assert.throws(() => n.fdClose(efd), /a poller still watches this fd/);
    assert.equal(n.pollClose(h), 0);
    assert.equal(n.fdClose(efd), 0);
    // The number is free for a new fd and a new poller.
    const again = n.check(n.efdOpen(0), 'eventfd');
    assert.equal(again, efd);
    n.pollClose(n.pollOpen(again, n.POLL_READABLE, () => {}));
    n.fdClose(again);
  });

  it('gives the address of a view', () => {
    const buf = new Uint8Array(new ArrayBuffer(64), 16, 8);
    const base = n.addressOf(new Uint8Array(buf.buffer));
    assert.equal(n.addressOf(buf) - base, 16n);
  });
});
