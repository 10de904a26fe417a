// The one typed door to the C addon. Every raw function returns a
// non-negative result or -errno; `check` turns -errno into a SystemError.
// No other module loads the binary.
import { createRequire } from 'node:module';
import { SystemError } from '../errors.js';

/** The addon's functions, exactly as C exports them. */
interface Addon {
  IOV_MAX: number;
  address_of(view: ArrayBufferView | ArrayBuffer): bigint;
  cma_readv(pid: number, local: ArrayBufferView[], remotePairs: BigUint64Array): number;
  cma_writev(pid: number, local: ArrayBufferView[], remotePairs: BigUint64Array): number;
  cma_read1(pid: number, local: ArrayBufferView, address: bigint, length: number): number;
  cma_write1(pid: number, local: ArrayBufferView, address: bigint, length: number): number;
  memfd_open(name: string, allowSealing: boolean): number;
  memfd_truncate(fd: number, sizeBytes: number): number;
  memfd_seal(fd: number, seals: number): number;
  memfd_get_seals(fd: number): number;
  shm_map(fd: number, lengthBytes: number, writable: boolean): ArrayBuffer | number;
  shm_unmap(buffer: ArrayBuffer): number;
  anon_map(lengthBytes: number): AnonRegion | number;
  anon_advise(region: AnonRegion, advice: number): number;
  anon_lend(region: AnonRegion, lengthBytes: number): ArrayBuffer | number;
  anon_lent(region: AnonRegion): number;
  anon_unmap(region: AnonRegion): number;
  heap_adjust_external(changeBytes: number): number;
  efd_open(initial: number): number;
  efd_signal(fd: number, n: number): number;
  efd_drain(fd: number): number;
  poll_open(fd: number, events: number, callback: (status: number, events: number) => void, spinMaxUs: number): PollHandle | number;
  poll_spin_stats(handle: PollHandle, out: Float64Array): number;
  poll_update(handle: PollHandle, events: number): number;
  poll_close(handle: PollHandle): number;
  poll_ref(handle: PollHandle, keepAlive: boolean): number;
  loop_spin(maxUs: number): number;
  loop_spin_stats(out: Float64Array): number;
  loop_yield(): number;
  loop_turn_count(counter: Uint32Array): number;
  busy_open(callback: () => boolean, sliceUs: number): BusyHandle | number;
  busy_close(handle: BusyHandle): number;
  busy_ref(handle: BusyHandle, keepAlive: boolean): number;
  sock_open(type: number): number;
  sock_pair(type: number, out: Int32Array): number;
  sock_bind(fd: number, address: Uint8Array): number;
  sock_connect(fd: number, address: Uint8Array): number;
  sock_listen(fd: number, backlog: number): number;
  sock_accept(fd: number): number;
  sock_send(fd: number, views: ArrayBufferView[], fds: Int32Array | null): number;
  sock_recv(fd: number, view: ArrayBufferView, state: Int32Array): number;
  sock_peercred(fd: number, out: Int32Array): number;
  sock_peergroups(fd: number, out: Uint32Array): number;
  sock_peerpidfd(fd: number): number;
  sock_setopt(fd: number, level: number, name: number, value: number): number;
  sock_shutdown(fd: number, how: number): number;
  fd_close(fd: number): number;
  fd_read(fd: number, view: ArrayBufferView): number;
  fd_write(fd: number, view: ArrayBufferView): number;
  fd_size(fd: number): number;
  pidfd_open(pid: number): number;
}

/** An opaque region of private anonymous memory (anonMap). */
export type AnonRegion = { readonly __brand: 'AnonRegion' };

/** An opaque libuv poll handle. */
export type PollHandle = { readonly __brand: 'PollHandle' };
/** An opaque busy poller (busyOpen). */
export type BusyHandle = { readonly __brand: 'BusyHandle' };

// Resolved from this file's URL (in dist/src/native, or the same URL inside the one-file CLI).
const addon = createRequire(import.meta.url)('../../../build/Release/fastbus.node') as Addon;

/** Throws a SystemError when `result` is -errno; returns it otherwise. */
export function check(result: number, syscall: string, detail?: string): number {
  if (result < 0) throw new SystemError(-result, syscall, detail);
  return result;
}

// errno values used by callers that treat them as expected outcomes.
export const EAGAIN = 11;
export const EINTR = 4;
export const EPERM = 1;
export const ESRCH = 3;
export const EFAULT = 14;
export const ENOSYS = 38;
export const EINVAL = 22;
export const EBUSY = 16;
export const ECONNABORTED = 103;

/** libuv poll events. */
export const POLL_READABLE = 1;
export const POLL_WRITABLE = 2;
export const POLL_DISCONNECT = 4;

/** Socket types for sockOpen/sockPair. */
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_SEQPACKET = 5;

/** recvmsg flag: control data (fds) was truncated. */
export const MSG_CTRUNC = 0x8;

/** memfd seals (fcntl F_ADD_SEALS). */
export const F_SEAL_SEAL = 0x1;
export const F_SEAL_SHRINK = 0x2;
export const F_SEAL_GROW = 0x4;
export const F_SEAL_WRITE = 0x8;

/** madvise advice for anonAdvise. */
export const MADV_HUGEPAGE = 14;
export const MADV_POPULATE_WRITE = 23;

export const IOV_MAX: number = addon.IOV_MAX;

// Raw functions: each returns a result >= 0 or -errno.
export const addressOf = addon.address_of;
export const cmaReadv = addon.cma_readv;
export const cmaWritev = addon.cma_writev;
export const cmaRead1 = addon.cma_read1;
export const cmaWrite1 = addon.cma_write1;
export const memfdOpen = addon.memfd_open;
export const memfdTruncate = addon.memfd_truncate;
export const memfdSeal = addon.memfd_seal;
export const memfdGetSeals = addon.memfd_get_seals;
export const efdOpen = addon.efd_open;
export const efdSignal = addon.efd_signal;
export const efdDrain = addon.efd_drain;
export const pollUpdate = addon.poll_update;
export const pollRef = addon.poll_ref;
export const sockOpen = addon.sock_open;
export const sockPair = addon.sock_pair;
export const sockListen = addon.sock_listen;
export const sockAccept = addon.sock_accept;
export const sockSend = addon.sock_send;
export const sockRecv = addon.sock_recv;
export const sockPeercred = addon.sock_peercred;
export const sockPeergroups = addon.sock_peergroups;
export const sockPeerpidfd = addon.sock_peerpidfd;
export const sockSetopt = addon.sock_setopt;
export const sockShutdown = addon.sock_shutdown;
export const fdRead = addon.fd_read;
export const fdWrite = addon.fd_write;
export const fdSize = addon.fd_size;
export const pidfdOpen = addon.pidfd_open;

/** Binds a unix socket; `address` bytes with a leading NUL are abstract. */
export function sockBind(fd: number, address: Uint8Array): number {
  return addon.sock_bind(fd, address);
}

/** Connects a unix socket; -EAGAIN/-EINPROGRESS mean "wait for writable". */
export function sockConnect(fd: number, address: Uint8Array): number {
  return addon.sock_connect(fd, address);
}

/** Maps a shared memory fd (MAP_SHARED); throws SystemError('mmap') on failure. */
export function shmMap(fd: number, lengthBytes: number, writable: boolean): ArrayBuffer {
  const r = addon.shm_map(fd, lengthBytes, writable);
  if (typeof r === 'number') throw new SystemError(-r, 'mmap');
  return r;
}

/** Detaches then unmaps a buffer made by shmMap. */
export function shmUnmap(buffer: ArrayBuffer): number {
  return addon.shm_unmap(buffer);
}

/** Maps `lengthBytes` of private anonymous memory (read/write, not yet faulted in); throws SystemError('mmap'). */
export function anonMap(lengthBytes: number): AnonRegion {
  if (!Number.isSafeInteger(lengthBytes) || lengthBytes <= 0) throw new RangeError(`anonMap: lengthBytes must be a positive integer, got ${lengthBytes}`);
  const r = addon.anon_map(lengthBytes);
  if (typeof r === 'number') throw new SystemError(-r, 'mmap');
  return r;
}

/** madvise(2) of a whole region (MADV_HUGEPAGE, MADV_POPULATE_WRITE): 0 or -errno. */
export const anonAdvise = addon.anon_advise;

/**
 * A new ArrayBuffer over the first `lengthBytes` of `region`, the caller's
 * for as long as it lives (the region counts it as lent until V8 frees it:
 * see anonLent). Throws SystemError('anon_lend') when the region is unmapped
 * or shorter.
 */
export function anonLend(region: AnonRegion, lengthBytes: number): ArrayBuffer {
  const r = addon.anon_lend(region, lengthBytes);
  if (typeof r === 'number') throw new SystemError(-r, 'anon_lend');
  return r;
}

/** How many ArrayBuffers lent over `region` are still alive (0: the region is free to lend or unmap). */
export const anonLent = addon.anon_lent;

/** Unmaps a region: 0, or -EBUSY while an ArrayBuffer lent over it is alive (nothing is unmapped then). */
export const anonUnmap = addon.anon_unmap;

/**
 * Adds `changeBytes` (negative: takes back) to the external memory V8 weighs
 * when it decides to collect (napi_adjust_external_memory); returns V8's new
 * total. A report far above V8's limits makes it collect garbage at once.
 */
export function heapAdjustExternal(changeBytes: number): number {
  if (!Number.isSafeInteger(changeBytes)) throw new RangeError(`heapAdjustExternal: changeBytes must be an integer, got ${changeBytes}`);
  return addon.heap_adjust_external(changeBytes);
}

/**
 * After a poller's callback, keeps this thread's loop polling for up to `maxUs`
 * microseconds before it sleeps (adaptive: the window grows while messages keep arriving
 * within it and shrinks when they do not). 0, the default, turns it off.
 * Polling spends CPU to save the wake-up of this thread; see docs/broker.md.
 */
export function loopSpin(maxUs: number): void {
  if (!Number.isInteger(maxUs) || maxUs < 0 || maxUs > 1_000_000) throw new RangeError(`loopSpin: maxUs must be an integer 0..1000000, got ${maxUs}`);
  const r = addon.loop_spin(maxUs);
  if (r < 0) throw new SystemError(-r, 'loop_spin');
}

/**
 * Polls busily from the event loop's idle phase: from the next turn on, each
 * turn of the loop (which then never sleeps) calls `callback` again and again
 * until it returns false or `sliceUs` passed. Node runs the promise jobs and
 * the process.nextTick queue after each call, inside the slice. Close it with busyClose.
 */
export function busyOpen(callback: () => boolean, sliceUs: number): BusyHandle {
  if (!Number.isInteger(sliceUs) || sliceUs < 0 || sliceUs > 1_000_000) throw new RangeError(`busyOpen: sliceUs must be an integer 0..1000000, got ${sliceUs}`);
  const r = addon.busy_open(callback, sliceUs);
  if (typeof r === 'number') throw new SystemError(-r, 'uv_idle_start');
  return r;
}

/** Stops a busy poller (also from inside its own callback). */
export function busyClose(handle: BusyHandle): void {
  check(addon.busy_close(handle), 'busy_close');
}

/** Whether a busy poller keeps the process alive (it does when opened). */
export function busyRef(handle: BusyHandle, keepAlive: boolean): void {
  check(addon.busy_ref(handle, keepAlive), 'busy_ref');
}

let turnCounter: Uint32Array | undefined;

/**
 * A counter of this thread's event loop turns: element 0 grows by one just
 * before each poll for readiness (wrapping at 2^32), so that readiness
 * callbacks with the same value came in the same batch. Made on first use.
 */
export function loopTurns(): Uint32Array {
  if (turnCounter) return turnCounter;
  // Its own ArrayBuffer: storage off the V8 heap, which C writes in place (a small typed array may live on the heap).
  const counter = new Uint32Array(new ArrayBuffer(4));
  check(addon.loop_turn_count(counter), 'uv_prepare_start');
  return (turnCounter = counter);
}

/** Lets a task waiting for this CPU run first (sched_yield), for a loop that polls; 0 or -errno. */
export function loopYield(): number {
  return addon.loop_yield();
}

/** What loopSpin has done in this thread so far. */
export interface LoopSpinStats {
  /** The current polling window (µs); 0 when polling is off or has not paid. */
  windowUs: number;
  /** Readiness events that arrived while the loop was polling (a wake-up saved). */
  caught: number;
  /** Readiness events that arrived while the loop was not polling (the one that woke it, and any that came with it). */
  woken: number;
}

/** Counts and the current window of loopSpin in this thread (for diagnostics and tests). */
export function loopSpinStats(): LoopSpinStats {
  const out = new Float64Array(3);
  const r = addon.loop_spin_stats(out);
  if (r < 0) throw new SystemError(-r, 'loop_spin_stats');
  return { windowUs: out[0], caught: out[1], woken: out[2] };
}

/**
 * Watches fd readiness on Node's loop (one poller per fd); throws
 * SystemError('uv_poll_start') on failure. The callback gets a libuv status
 * (0 or -errno) and the ready events. Close the poller before the fd.
 * With `spinMaxUs` > 0 the poller has an adaptive polling window of its own
 * (as loopSpin's, up to that long, see pollSpinStats); otherwise its events
 * open the thread's window (loopSpin).
 */
export function pollOpen(fd: number, events: number, callback: (status: number, events: number) => void, spinMaxUs = 0): PollHandle {
  if (!Number.isInteger(spinMaxUs) || spinMaxUs < 0 || spinMaxUs > 1_000_000) throw new RangeError(`pollOpen: spinMaxUs must be an integer 0..1000000, got ${spinMaxUs}`);
  const r = addon.poll_open(fd, events, callback, spinMaxUs);
  if (typeof r === 'number') throw new SystemError(-r, 'uv_poll_start');
  polled.set(fd, r);
  polledFd.set(r, fd);
  return r;
}

/**
 * This thread's open pollers by fd. An fd closed under its poller stays in
 * libuv's table (its number, once reused, is refused with EEXIST) or, if the
 * loop has not registered it yet, makes libuv abort: fdClose refuses it.
 */
const polled = new Map<number, PollHandle>();
const polledFd = new WeakMap<PollHandle, number>();

/** Stops and closes a poller (its fd stays open): 0, or -EBADF if it was closed already. */
export function pollClose(handle: PollHandle): number {
  const fd = polledFd.get(handle);
  if (fd !== undefined && polled.get(fd) === handle) polled.delete(fd);
  return addon.poll_close(handle);
}

/** close(2): 0 or -errno. Closing an fd that a poller still watches is a bug: it throws and closes nothing. */
export function fdClose(fd: number): number {
  if (polled.has(fd)) throw new Error(`fdClose(${fd}): a poller still watches this fd; close the poller first`);
  return addon.fd_close(fd);
}

/** What the own polling window of a poller opened with `spinMaxUs` has done (as loopSpinStats). */
export function pollSpinStats(handle: PollHandle): LoopSpinStats {
  const out = new Float64Array(3);
  const r = addon.poll_spin_stats(handle, out);
  if (r < 0) throw new SystemError(-r, 'poll_spin_stats');
  return { windowUs: out[0], caught: out[1], woken: out[2] };
}
