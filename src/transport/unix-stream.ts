// A MessageStream over a non-blocking unix socket, through the native door:
// recvmsg into a large reused buffer (many messages per read), fds from
// SCM_RIGHTS kept in arrival order until the message that carries them takes
// them; the messages queued while handling one read leave in one sendmsg with
// many iovecs per receiver before the next read (no extra turn, and a relayed
// flood holds one read's worth of messages, not a whole callback's; the
// schedule shared by all streams is in dirty-streams.ts, the queue in send-queue.ts).
import { ProtocolError, SystemError } from '../errors.js';
import * as native from '../native/native.js';
import { FrameReader } from './frame-reader.js';
import { FramedStream } from './framed-stream.js';
import type { MessageStream } from './message-stream.js';
import { dirtyStreams } from './dirty-streams.js';
import type { GroupReader, ReadGroup } from './read-group.js';
import { releaseFds, SendQueue } from './send-queue.js';

const MAX_FDS_PER_READ = 253;
const ECONNRESET = 104;
const SOL_SOCKET = 1;
const SO_SNDBUF = 7;
/** What sd-bus asks for too. */
const SEND_BUFFER_BYTES = 8 * 1024 * 1024;
const EPIPE = 32;
/** Received fds no message has claimed; more than this is a peer's fault. */
const MAX_UNCLAIMED_FDS = 1024;
/** Bytes read per readiness callback before yielding to other connections. */
const READ_BUDGET_BYTES = 4 * 1024 * 1024;

/**
 * Shared by every stream (idle connections should cost little): recvmsg's
 * out-values, read at once after each call, and the buffer for handshake
 * reads, whose bytes onRaw handlers copy before returning.
 */
const recvState = new Int32Array(2 + MAX_FDS_PER_READ);
const rawBuffer = new Uint8Array(1024);

/** Stands for a stream's received-fd pool until fds first arrive (never written). */
const NO_FDS: number[] = [];

/** Wraps a connected, non-blocking unix socket fd; the stream owns and closes it. */
export class UnixStream extends FramedStream implements MessageStream, GroupReader {
  readonly kind = 'unix' as const;
  readonly fdCapable = true;

  readonly fd: number;
  private poll: native.PollHandle | null;
  private events = native.POLL_READABLE;
  private raw = true;
  private paused = false;
  private fdPool: number[] = NO_FDS;
  private readonly sendQueue = new SendQueue();
  private flushScheduled = false;
  private waitingWritable = false;
  /** The loop turn this stream last read in (its read group's rotation). */
  readTurn = -1;
  /** Received messages wait for this stream's next turn: its read group's budget ran out among them. */
  private held = false;
  private heldResume = false;

  constructor(fd: number, receiveBufferBytes = 256 * 1024, sendBufferBytes = SEND_BUFFER_BYTES) {
    // Idle connections read into one shared buffer: they hold none of their own.
    super(new FrameReader(receiveBufferBytes, undefined, undefined, true));
    this.fd = fd;
    // A larger kernel send buffer (a limit, not an allocation; capped by net.core.wmem_max)
    // lets a large message leave in a few system calls instead of many wake-ups.
    if (sendBufferBytes > 0) native.sockSetopt(fd, SOL_SOCKET, SO_SNDBUF, sendBufferBytes);
    this.poll = native.pollOpen(fd, this.events, (status, events) => this.ready(status, events));
  }

  get queuedBytes(): number {
    return this.sendQueue.queuedBytes;
  }
  get queuedFds(): number {
    return this.sendQueue.queuedFds;
  }

  startMessages(initial: Uint8Array): void {
    this.raw = false;
    if (initial.length > 0) {
      try {
        this.reader.push(initial);
      } catch (e) {
        this.close(e as Error);
        return;
      }
    }
    if (!this.paused) queueMicrotask(() => this.deliver());
  }

  send(bytes: Uint8Array, fds?: readonly number[], fdsDone: boolean | (() => void) = false, written?: () => void): void {
    if (this.isClosed) {
      if (fds) releaseFds(fds, fdsDone);
      written?.();
      return;
    }
    const withFds = fds && fds.length > 0 ? fds : undefined;
    if (fds && !withFds && typeof fdsDone === 'function') fdsDone();
    this.sendQueue.push(bytes, withFds, fdsDone, written);
    if (!this.flushScheduled && !this.waitingWritable) {
      this.flushScheduled = true;
      dirtyStreams.add(this);
    }
  }

  /** Writes what send() queued (called once per batch of sends). */
  flushQueued(): void {
    if (!this.flushScheduled) return;
    this.flushScheduled = false;
    if (!this.waitingWritable) this.flush();
  }

  takeFds(count: number): number[] {
    if (count === 0) return [];
    if (this.fdPool.length < count) {
      throw new ProtocolError('MISSING_FDS', `message declares ${count} unix fds but ${this.fdPool.length} arrived`);
    }
    return this.fdPool.splice(0, count);
  }

  pause(): void {
    if (this.paused || this.isClosed) return;
    this.paused = true;
    this.setEvents(this.events & ~native.POLL_READABLE);
  }

  resume(): void {
    if (!this.paused || this.isClosed) return;
    this.paused = false;
    this.setEvents(this.events | native.POLL_READABLE);
    queueMicrotask(() => this.deliver());
  }

  ref(): void {
    if (this.poll) native.pollRef(this.poll, true);
  }

  unref(): void {
    if (this.poll) native.pollRef(this.poll, false);
  }

  close(error?: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    if (this.poll) native.pollClose(this.poll);
    this.poll = null;
    native.fdClose(this.fd);
    for (const fd of this.fdPool) native.fdClose(fd);
    this.fdPool = NO_FDS;
    this.sendQueue.drop();
    this.onClose?.(error);
  }

  private setEvents(events: number): void {
    if (events === this.events || !this.poll) return;
    this.events = events;
    native.pollUpdate(this.poll, events);
  }

  private ready(status: number, events: number): void {
    dirtyStreams.enterCallback();
    try {
      this.handleReady(status, events);
    } finally {
      dirtyStreams.leaveCallback();
    }
  }

  private handleReady(status: number, events: number): void {
    if (this.isClosed) return;
    if (status < 0) {
      // libuv reports POLLERR this way, and stops watching. On a unix socket it
      // means the peer closed with data of ours unread (ECONNRESET pending): what
      // it sent before closing is still readable, so read it all, then close.
      this.read(true);
      this.close();
      return;
    }
    if (events & native.POLL_WRITABLE) this.flush();
    if (this.isClosed) return;
    // A hang-up shows as a read of 0 bytes; a paused reader notices it on resume.
    if (events & (native.POLL_READABLE | native.POLL_DISCONNECT) && !this.paused) this.read();
  }

  private read(toEnd = false): void {
    let budget = toEnd ? Infinity : READ_BUDGET_BYTES;
    // A stream in a read group reads within the group's budget for this loop turn (read-group.ts).
    const group = toEnd ? undefined : this.readGroup;
    if (group !== undefined && !group.mayRead(this)) {
      if (this.held) this.resumeHeldLater();
      return;
    }
    if (this.held) {
      // What the budget held back goes first, before more is read.
      this.deliver(group);
      dirtyStreams.flushAfterRead();
      if (this.held || group?.exhausted) return;
    }
    while (budget > 0 && !this.isClosed && (toEnd || !this.paused)) {
      const region = this.raw ? rawBuffer : this.reader.region();
      const n = native.sockRecv(this.fd, region, recvState);
      if (n === -native.EAGAIN || n === -native.EINTR) return;
      if (n < 0) {
        // A reset after the peer's last bytes is a hang-up, not a fault.
        this.close(n === -ECONNRESET ? undefined : new SystemError(-n, 'recvmsg'));
        return;
      }
      const got = recvState[0];
      if (got > 0) {
        if (this.fdPool === NO_FDS) this.fdPool = [];
        for (let i = 0; i < got; i++) this.fdPool.push(recvState[2 + i]);
      }
      if (recvState[1] & native.MSG_CTRUNC) {
        this.close(new ProtocolError('FDS_TRUNCATED', 'unix fds were lost in transit (control data truncated)'));
        return;
      }
      if (this.fdPool.length > MAX_UNCLAIMED_FDS) {
        this.close(new ProtocolError('TOO_MANY_FDS', 'peer sent more unix fds than its messages declare'));
        return;
      }
      if (n === 0) {
        this.close();
        return;
      }
      budget -= n;
      if (this.raw) {
        if (!this.onRaw) throw new Error('UnixStream: bytes in raw mode with no onRaw handler');
        this.onRaw(region.subarray(0, n));
      } else {
        this.reader.commit(n);
        this.deliver(group);
        // What this read produced leaves now: held to the end of the callback (up to
        // READ_BUDGET_BYTES of small messages), a flood's copies outlive young-generation
        // collections and pile up in the old generation (the broker's peak RSS in
        // `npm run bench -- broker`, whose signal rows are such a flood, grows with it).
        dirtyStreams.flushAfterRead();
      }
      if (this.held || group?.exhausted) return;
      // A short read emptied the socket (or stopped at fds: the poll is level-triggered
      // and says so again): skip the read that would only return EAGAIN.
      if (!toEnd && n < region.length) return;
    }
  }

  /** Hands received messages to onMessage; with `group`, stops once its budget is spent (the rest is held for the next turn). */
  private deliver(group?: ReadGroup): void {
    if (this.raw) return;
    this.held = false;
    try {
      let n = 0;
      while (!this.paused && !this.isClosed) {
        const frame = this.reader.next();
        if (frame === null) return;
        this.onMessage?.(frame);
        // A read may hold hundreds of messages, each fanned out to many: look at the clock every few.
        if (group !== undefined && (++n & 7) === 0 && group.exhausted) {
          this.held = true;
          this.resumeHeldLater();
          break;
        }
      }
      // Paused (or held) with messages left: they move out of the shared receive buffer.
      this.reader.detach();
    } catch (e) {
      if (e instanceof ProtocolError) this.close(e);
      else throw e;
    }
  }

  /** Held messages are taken in a later turn even if nothing more arrives: an immediate tries (again while the budget is spent). */
  private resumeHeldLater(): void {
    if (this.heldResume) return;
    this.heldResume = true;
    setImmediate(() => {
      this.heldResume = false;
      if (this.held && !this.isClosed && !this.paused) this.ready(0, native.POLL_READABLE);
    });
  }

  private flush(): void {
    const maxIov = Math.min(native.IOV_MAX, 1024);
    const q = this.sendQueue;
    while (!q.isEmpty && !this.isClosed) {
      const fds = q.batchFds();
      const r = native.sockSend(this.fd, q.batch(maxIov), fds ? Int32Array.from(fds) : null);
      q.endBatch();
      if (r === -native.EAGAIN || r === -native.EINTR) {
        this.waitingWritable = true;
        this.setEvents(this.events | native.POLL_WRITABLE);
        return;
      }
      if (r === -EPIPE || r === -ECONNRESET) {
        // The peer is gone; what it sent before going is still readable: read it, then close.
        this.read(true);
        this.close();
        return;
      }
      if (r < 0) {
        this.close(new SystemError(-r, 'sendmsg'));
        return;
      }
      q.consume(r);
    }
    if (this.isClosed) return;
    q.rewind();
    if (this.waitingWritable) {
      this.waitingWritable = false;
      this.setEvents(this.events & ~native.POLL_WRITABLE);
    }
    this.onDrain?.();
  }
}
