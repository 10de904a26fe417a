// The flush schedule shared by every unix stream: a stream with bytes queued
// since its last flush is listed once, and the list is flushed together —
// after each read and when the readiness callback returns, or in a microtask
// when the sends came from outside any callback. So the messages queued while
// handling one read leave in one sendmsg per receiver.

/** A stream that can write what it has queued. */
export interface Flushable {
  flushQueued(): void;
}

/** Streams with bytes queued since their last flush. */
class DirtyStreams {
  // Slots are cleared, not the array truncated: that would free its storage every time.
  private readonly list: (Flushable | undefined)[] = [];
  private count = 0;
  private microtaskQueued = false;
  /** A flush is running (a failed write may read the peer's last bytes inside it): it picks up what those queue. */
  private flushing = false;
  /** Readiness callbacks running: sends made inside one are flushed after each read and when it returns. */
  private inCallback = 0;

  /** Lists a stream that just queued bytes (the caller lists it once until it flushes). */
  add(stream: Flushable): void {
    if (this.count === this.list.length) this.list.push(stream);
    else this.list[this.count] = stream;
    this.count++;
    if (this.inCallback === 0 && !this.microtaskQueued) {
      this.microtaskQueued = true;
      queueMicrotask(this.flush);
    }
  }

  enterCallback(): void {
    this.inCallback++;
  }

  leaveCallback(): void {
    if (--this.inCallback === 0 && this.count > 0) this.flush();
  }

  /** After a read inside a callback: what it produced leaves now (unless a flush is already running). */
  flushAfterRead(): void {
    if (this.count > 0 && !this.flushing) this.flush();
  }

  private readonly flush = (): void => {
    this.microtaskQueued = false;
    this.flushing = true;
    try {
      // A flush may queue more (onDrain): the loop picks those up too.
      for (let i = 0; i < this.count; i++) {
        const s = this.list[i]!;
        this.list[i] = undefined;
        s.flushQueued();
      }
      this.count = 0;
    } finally {
      this.flushing = false;
    }
  };
}

/** The one schedule of this thread's unix streams. */
export const dirtyStreams = new DirtyStreams();
