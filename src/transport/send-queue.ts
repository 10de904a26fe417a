// A UnixStream's send queue (unix-stream.ts): the messages waiting for
// sendmsg, in parallel arrays (no object per message), slots [head, tail).
// The arrays of fds, of who closes them and of written-callbacks exist only
// once a send had one (most connections never pass fds or callbacks).
// `headOffset` bytes of the head entry are already written. A batch is the
// entries one sendmsg takes: fds travel with the first byte of their own
// sendmsg, so a batch stops before the next entry that has some.
import * as native from '../native/native.js';

/** Closes `fds`, or calls the callback that owns them (`done`), or leaves them to their owner (false). */
export function releaseFds(fds: readonly number[], done: boolean | (() => void)): void {
  if (typeof done === 'function') done();
  else if (done) for (const fd of fds) native.fdClose(fd);
}

/** Stands for the side arrays until a send needs them (never written). */
const NO_SLOTS: never[] = [];
const EMPTY = new Uint8Array(0);
/** Reused for the common single-message sendmsg. */
const oneView: Uint8Array[] = [EMPTY];

/** Messages queued on one stream, written in batches of iovecs. */
export class SendQueue {
  private bytes: (Uint8Array | undefined)[] | undefined;
  private fds: (readonly number[] | undefined)[] = NO_SLOTS;
  private fdsDone: (boolean | (() => void))[] = NO_SLOTS;
  /** Called once an entry's bytes are written or dropped (its sender may reuse them). */
  private written: ((() => void) | undefined)[] = NO_SLOTS;
  private head = 0;
  private tail = 0;
  private headOffset = 0;
  /** Bytes queued and not yet written. */
  queuedBytes = 0;
  /** Fds queued and not yet sent. */
  queuedFds = 0;

  get isEmpty(): boolean {
    return this.head === this.tail;
  }

  /** Queues `bytes`; `fds`, when given, are not empty. */
  push(bytes: Uint8Array, fds: readonly number[] | undefined, fdsDone: boolean | (() => void), written: (() => void) | undefined): void {
    // Four slots to start (an idle connection's Hello reply and NameAcquired fit): a bare [] would grow to 17 on its first push.
    this.bytes ??= [undefined, undefined, undefined, undefined];
    let side = this.fds !== NO_SLOTS;
    if (!side && (fds !== undefined || written !== undefined)) {
      const n = this.bytes.length;
      this.fds = new Array<undefined>(n).fill(undefined);
      this.fdsDone = new Array<boolean>(n).fill(false);
      this.written = new Array<undefined>(n).fill(undefined);
      side = true;
    }
    const t = this.tail++;
    if (t === this.bytes.length) {
      this.bytes.push(bytes);
      if (side) {
        this.fds.push(fds);
        this.fdsDone.push(fdsDone);
        this.written.push(written);
      }
    } else {
      this.bytes[t] = bytes;
      if (side) {
        this.fds[t] = fds;
        this.fdsDone[t] = fdsDone;
        this.written[t] = written;
      }
    }
    this.queuedBytes += bytes.length;
    if (fds) this.queuedFds += fds.length;
  }

  /** The fds that go with the next batch (those of its first entry, unless partly written). */
  batchFds(): readonly number[] | undefined {
    return this.headOffset === 0 ? this.fds[this.head] : undefined;
  }

  /** The next batch's iovecs, at most `maxIov`; call endBatch once sendmsg has taken them. */
  batch(maxIov: number): Uint8Array[] {
    const q = this.bytes!;
    const h = this.head;
    const first = this.headOffset === 0 ? q[h]! : q[h]!.subarray(this.headOffset);
    if (h + 1 === this.tail || this.fds[h + 1] !== undefined) {
      oneView[0] = first;
      return oneView;
    }
    const views = [first];
    for (let i = h + 1; i < this.tail && views.length < maxIov && this.fds[i] === undefined; i++) views.push(q[i]!);
    return views;
  }

  /** Lets go of the single-message batch's view. */
  endBatch(): void {
    oneView[0] = EMPTY;
  }

  /** sendmsg wrote `written` bytes: entries it finished leave the queue (their fds released, their callbacks called). */
  consume(written: number): void {
    this.queuedBytes -= written;
    const q = this.bytes!;
    // Empty entries count as written with the bytes before them.
    while (this.head < this.tail && (written > 0 || q[this.head]!.length === this.headOffset)) {
      const h = this.head;
      const fds = this.fds[h];
      if (fds) {
        this.queuedFds -= fds.length;
        releaseFds(fds, this.fdsDone[h]);
        this.fds[h] = undefined;
        this.fdsDone[h] = false;
      }
      const left = q[h]!.length - this.headOffset;
      if (written >= left) {
        written -= left;
        const done = this.written[h];
        q[h] = undefined;
        if (done !== undefined) this.written[h] = undefined;
        this.head++;
        this.headOffset = 0;
        done?.();
      } else {
        this.headOffset += written;
        written = 0;
      }
    }
    if (this.head > 1024 && this.head * 2 > this.tail) {
      // Move the live entries down so the arrays stop growing under a long backlog.
      const n = this.tail - this.head;
      for (const a of (this.fds === NO_SLOTS ? [q] : [q, this.fds, this.fdsDone, this.written]) as unknown[][]) {
        a.copyWithin(0, this.head, this.tail);
        a.length = n;
      }
      this.head = 0;
      this.tail = n;
    }
  }

  /** Everything was written: the slots start again at 0. */
  rewind(): void {
    this.head = this.tail = this.headOffset = 0;
  }

  /** The stream closed: queued fds are released and callbacks called; the queue holds nothing after. */
  drop(): void {
    for (let i = this.head; i < this.tail; i++) {
      const fds = this.fds[i];
      if (fds) releaseFds(fds, this.fdsDone[i]);
      this.written[i]?.();
    }
    this.bytes = undefined;
    this.fds = this.fdsDone = this.written = NO_SLOTS;
    this.head = this.tail = this.headOffset = 0;
    this.queuedBytes = 0;
    this.queuedFds = 0;
  }
}
