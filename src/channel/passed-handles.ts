// Handles kept in order with the ring. The sender passes a message's fds over
// the channel's socket ([SOCK_HANDLES u32][seq u32] + the fds, SCM_RIGHTS),
// then puts a KIND_HANDLES frame ([seq][count][array][type byte each]) in the
// ring right before the message's own frame(s). The receiver takes the fds
// named by that frame from what the socket brought (reading the socket if
// they are not there yet: they were sent before the frame was published) and
// gives them, as objects, to the next message it delivers. A message that
// fails after its handles went (a large payload refused) is followed by a
// frame with no handles, which makes the receiver close them. Fds received
// and not delivered are closed at close.
import { ProtocolError } from '../errors.js';
import { check, fdClose, sockSend } from '../native/native.js';
import type { ChannelCore } from './channel-core.js';
import type { ControlSocket } from './control-socket.js';
import { corruptFrame, KIND_HANDLES, SOCK_HANDLES } from './frame-kinds.js';
import { afterPassed, incomingHandles, isHandleType, MAX_HANDLES, type OutgoingHandles, type SendHandle } from './handles.js';
import type { Outbound } from './outbound.js';

const HEADER_BYTES = 12;

interface Pending {
  fds: Int32Array;
  types: Uint8Array;
  array: boolean;
}

export class PassedHandles {
  /** Handles went out for a message that then failed: a frame with none must follow before anything else. */
  dropOwed = false;
  private nextSeq = 1;
  /** Fds the peer passed, by sequence number, until their frame is read. */
  private readonly waiting = new Map<number, Int32Array>();
  /** The handles of the next message to deliver. */
  private pending: Pending | null = null;

  constructor(private readonly core: ChannelCore, private readonly out: Outbound, private readonly socket: ControlSocket) {
    socket.onPassedMany(SOCK_HANDLES, (seq, fds) => {
      const old = this.waiting.get(seq);
      if (old) for (const fd of old) fdClose(fd);
      this.waiting.set(seq, fds);
    });
  }

  /** True when the next message delivered carries handles. */
  get hasPending(): boolean {
    return this.pending !== null;
  }

  /** Passes the fds of `h` and puts their frame in the ring; false (nothing done) when the ring is full. */
  send(h: OutgoingHandles): boolean {
    const core = this.core;
    const n = h.fds.length;
    const at = core.writer.reserve(HEADER_BYTES + n);
    if (at < 0) {
      this.out.full();
      return false;
    }
    const seq = this.nextSeq;
    check(sockSend(core.sock, [Uint32Array.of(SOCK_HANDLES, seq)], h.fds), 'sendmsg', 'passing handles');
    this.nextSeq = (seq + 1) >>> 0 || 1;
    core.u32[at >> 2] = seq;
    core.u32[(at >> 2) + 1] = n;
    core.u32[(at >> 2) + 2] = h.array ? 1 : 0;
    core.u8.set(h.types, at + HEADER_BYTES);
    this.out.commit(HEADER_BYTES + n, KIND_HANDLES, false);
    core.stats.handlesSent += n;
    afterPassed(h);
    return true;
  }

  /** Writes the frame that drops the handles passed last (their message failed); false when the ring is full. */
  writeDrop(): boolean {
    const at = this.core.writer.reserve(HEADER_BYTES);
    if (at < 0) return false;
    this.core.u32.fill(0, at >> 2, (at >> 2) + 3);
    this.out.commit(HEADER_BYTES, KIND_HANDLES, false);
    this.dropOwed = false;
    return true;
  }

  /** The receiving half: the frame of `length` bytes at `at`. */
  receive(at: number, length: number): void {
    const { u32, u8 } = this.core;
    if (length < HEADER_BYTES || length > HEADER_BYTES + MAX_HANDLES) throw corruptFrame(KIND_HANDLES, length);
    const seq = u32[at >> 2];
    const n = u32[(at >> 2) + 1];
    if (n !== length - HEADER_BYTES) throw corruptFrame(KIND_HANDLES, length);
    if (n === 0) {
      // The message these were for never came.
      this.dropPending();
      return;
    }
    if (this.pending !== null) throw new ProtocolError('CORRUPT_SEGMENT', 'corrupt channel ring: two sets of handles for one message');
    const fds = this.socket.passed(this.waiting, seq);
    if (fds === undefined) throw new ProtocolError('MISSING_FD', `peer announced handles ${seq} but passed no file descriptors`);
    this.waiting.delete(seq);
    const types = u8.slice(at + HEADER_BYTES, at + HEADER_BYTES + n);
    if (fds.length !== n || !types.every(isHandleType)) {
      for (const fd of fds) fdClose(fd);
      throw new ProtocolError('BAD_PAYLOAD', `peer announced ${n} handles (types ${types.join(',')}) and passed ${fds.length} file descriptors`);
    }
    this.pending = { fds, types, array: u32[(at >> 2) + 2] === 1 };
    this.core.stats.handlesReceived += n;
  }

  /** The handles of the message being delivered, as objects (the listener owns them now). */
  take(): SendHandle | SendHandle[] | undefined {
    const p = this.pending;
    if (p === null) return undefined;
    this.pending = null;
    try {
      return incomingHandles(p.fds, p.types, p.array);
    } catch (e) {
      throw new ProtocolError('BAD_PAYLOAD', `peer passed a handle that cannot be rebuilt here: ${(e as Error).message}`);
    }
  }

  private dropPending(): void {
    if (this.pending) for (const fd of this.pending.fds) fdClose(fd);
    this.pending = null;
  }

  /** Closes every fd received and not delivered. */
  close(): void {
    this.dropPending();
    for (const fds of this.waiting.values()) for (const fd of fds) fdClose(fd);
    this.waiting.clear();
  }
}
