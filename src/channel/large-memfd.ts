// Large payloads by a memfd each: the sender copies the payload into a new
// memfd and passes it over the socket; the ring carries {token, length}. Slow
// (creation, page faults on both sides), kept as the fallback when the arena
// cannot hold a payload and the peer cannot use CMA (or when forced).
import { ProtocolError, SystemError } from '../errors.js';
import { check, fdClose, fdSize, memfdOpen, memfdTruncate, shmMap, shmUnmap, sockSend } from '../native/native.js';
import { corruptFrame, KIND_LARGE_MEMFD, SOCK_PAYLOAD_FD } from './frame-kinds.js';
import { LargePathBase } from './large-path-base.js';
import type { LargePayloadPath, PathParts } from './large-payloads.js';

const DESCRIPTOR_BYTES = 16;

export class MemfdPath extends LargePathBase implements LargePayloadPath {
  readonly frameKind = KIND_LARGE_MEMFD;
  /** Payload fds the peer passed, by token, until their descriptor is read. */
  private readonly pendingFds = new Map<number, number>();

  constructor(parts: PathParts) {
    super(parts);
    this.socket.onPassed(SOCK_PAYLOAD_FD, (token, fd) => this.pendingFds.set(token, fd));
  }

  /** 1: sent; 0: the ring is full; -1: no memfd can be made (refused from now on, unless forced: then it throws). */
  send(kind: number, payload: Uint8Array): 0 | 1 | -1 {
    const core = this.core;
    const at = core.writer.reserve(DESCRIPTOR_BYTES);
    if (at < 0) return this.out.full();
    let fd: number;
    try {
      if (core.settings.refuseMemfd) throw new SystemError(12, 'memfd_create', 'refused for a test');
      fd = check(memfdOpen('fastbus-payload', false), 'memfd_create');
    } catch (e) {
      if (core.settings.largeMode === 'memfd') throw e;
      this.large.refuseSharedMemory(e as Error);
      return -1;
    }
    const token = this.out.peekToken();
    try {
      check(memfdTruncate(fd, payload.byteLength), 'ftruncate');
      const map = shmMap(fd, payload.byteLength, true);
      new Uint8Array(map).set(payload);
      shmUnmap(map);
      const msg = new Uint32Array([SOCK_PAYLOAD_FD, token]);
      check(sockSend(core.sock, [msg], Int32Array.of(fd)), 'sendmsg');
    } finally {
      fdClose(fd);
    }
    this.out.track({ exposure: null, arena: null, consumedBytes: 0, resolve: null, reject: null });
    core.u32[at >> 2] = token;
    core.u32[(at >> 2) + 1] = kind;
    core.f64[(at >> 3) + 1] = payload.byteLength;
    core.stats.memfdTransfers++;
    this.out.commit(DESCRIPTOR_BYTES, KIND_LARGE_MEMFD);
    this.out.publishNow();
    return 1;
  }

  receive(at: number, length: number): void {
    if (length !== DESCRIPTOR_BYTES) throw corruptFrame(KIND_LARGE_MEMFD, length);
    const { u32, f64 } = this.core;
    const token = u32[at >> 2];
    const kind = u32[(at >> 2) + 1];
    const bytes = f64[(at >> 3) + 1];
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new ProtocolError('CORRUPT_SEGMENT', `large payload of ${bytes} bytes`);
    const fd = this.socket.passed(this.pendingFds, token);
    if (fd === undefined) throw new ProtocolError('MISSING_FD', `peer announced memfd payload ${token} but sent no file descriptor`);
    this.pendingFds.delete(token);
    let map: ArrayBuffer;
    try {
      const size = check(fdSize(fd), 'fstat');
      if (size < bytes) throw new ProtocolError('BAD_PAYLOAD', `memfd payload of ${size} bytes announced as ${bytes}`);
      map = shmMap(fd, bytes, true);
    } finally {
      fdClose(fd);
    }
    this.inb.acknowledge(token);
    if (this.inb.borrows(kind, bytes)) {
      this.inb.deliverLarge(kind, new Uint8Array(map));
    } else {
      // An owned copy in ordinary memory, so the mapping is unmapped now
      // rather than whenever the collector gets to it.
      const owned = this.inb.landing(kind, bytes);
      owned.set(new Uint8Array(map));
      this.inb.deliverLarge(kind, owned);
    }
    shmUnmap(map);
  }

  close(): void {
    for (const fd of this.pendingFds.values()) fdClose(fd);
    this.pendingFds.clear();
  }
}
