// What a message can carry besides its value: raw fds and Node handles
// (net.Socket, net.Server), as child_process send(message, sendHandle) passes
// them. This file turns them into fds and back; the fds travel over the
// channel's socket with SCM_RIGHTS (passed-fds.ts keeps them in ring order).
// A raw fd stays the sender's (the peer gets its own copy); a net.Socket is
// destroyed in the sender once passed, unless keepOpen; a net.Server keeps
// listening in both (both accept), as with child_process.
import net from 'node:net';
import { fdClose } from '../native/native.js';

/** What a message may carry: a raw fd (the receiver gets a new fd it owns), a net.Socket or a net.Server. */
export type SendHandle = net.Socket | net.Server | number;

/** Options of a send that carries handles. */
export interface SendHandleOptions {
  /** Keep a passed net.Socket open in this process too (default false: destroyed once passed, as child_process does). */
  keepOpen?: boolean;
}

/** The kernel's limit on fds in one SCM_RIGHTS message (SCM_MAX_FD). */
export const MAX_HANDLES = 253;

// What each fd is, so that the receiver rebuilds the same kind of object.
export const HANDLE_FD = 1;
export const HANDLE_SOCKET = 2;
export const HANDLE_SERVER = 3;

/** The fds of one message's handles, on their way out. */
export interface OutgoingHandles {
  fds: Int32Array;
  types: Uint8Array;
  /** Sent as an array (delivered as one), rather than a single handle. */
  array: boolean;
  /** Sockets to destroy once their fds are passed (not keepOpen). */
  destroyAfter: net.Socket[];
  /** The fds are passed and their frame is in the ring (the message may still wait for room). */
  passed: boolean;
}

/** The fd under a Node handle, or -1 (libuv stream and server handles show it on Linux). */
function fdOf(h: net.Socket | net.Server): number {
  const handle = (h as unknown as { _handle?: { fd?: unknown } | null })._handle;
  return handle && typeof handle.fd === 'number' ? handle.fd : -1;
}

/** Checks and converts what send() was given; throws TypeError/RangeError for anything else. */
export function outgoingHandles(given: SendHandle | SendHandle[], options: SendHandleOptions = {}): OutgoingHandles {
  const list = Array.isArray(given) ? given : [given];
  if (list.length === 0 || list.length > MAX_HANDLES) throw new RangeError(`a message carries 1 to ${MAX_HANDLES} handles, got ${list.length}`);
  const fds = new Int32Array(list.length);
  const types = new Uint8Array(list.length);
  const destroyAfter: net.Socket[] = [];
  list.forEach((h, i) => {
    if (typeof h === 'number') {
      if (!Number.isInteger(h) || h < 0 || h > 0x7fffffff) throw new TypeError(`a raw fd must be a non-negative integer, got ${h}`);
      fds[i] = h;
      types[i] = HANDLE_FD;
      return;
    }
    const isSocket = h instanceof net.Socket;
    if (!isSocket && !(h instanceof net.Server)) throw new TypeError('a message carries raw fds, net.Socket or net.Server handles only');
    const fd = fdOf(h);
    if (fd < 0) throw new TypeError(`cannot pass a ${isSocket ? 'net.Socket that is not connected' : 'net.Server that is not listening'} (it has no fd)`);
    fds[i] = fd;
    types[i] = isSocket ? HANDLE_SOCKET : HANDLE_SERVER;
    if (isSocket && options.keepOpen !== true) destroyAfter.push(h as net.Socket);
  });
  return { fds, types, array: Array.isArray(given), destroyAfter, passed: false };
}

/** Once the fds are in the kernel's hands: the sender's copies of passed sockets go (unless keepOpen). */
export function afterPassed(h: OutgoingHandles): void {
  h.passed = true;
  for (const socket of h.destroyAfter) socket.destroy();
}

/** True for a type byte this side knows. */
export function isHandleType(type: number): boolean {
  return type === HANDLE_FD || type === HANDLE_SOCKET || type === HANDLE_SERVER;
}

/**
 * Turns received fds into what the sender passed: raw fds as numbers (the
 * listener owns them), sockets as a net.Socket reading and writing, servers as
 * a listening net.Server. An fd that cannot become its object is closed, and
 * the error thrown.
 */
export function incomingHandles(fds: Int32Array, types: Uint8Array, array: boolean): SendHandle | SendHandle[] {
  const out: SendHandle[] = [];
  for (let i = 0; i < fds.length; i++) {
    try {
      out.push(fromFd(fds[i], types[i]));
    } catch (e) {
      for (let j = i; j < fds.length; j++) fdClose(fds[j]);
      for (const h of out) if (typeof h === 'number') fdClose(h); else if (h instanceof net.Socket) h.destroy(); else h.close();
      throw e;
    }
  }
  return array ? out : out[0];
}

function fromFd(fd: number, type: number): SendHandle {
  if (type === HANDLE_SOCKET) return new net.Socket({ fd, readable: true, writable: true });
  if (type === HANDLE_SERVER) return net.createServer().listen({ fd });
  return fd;
}
