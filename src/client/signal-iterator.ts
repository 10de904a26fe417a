// Signals as a bounded async iterator: a ring of at most `capacity` waiting
// items; when it is full the oldest is dropped and counted, so a slow consumer
// under a signal storm costs bounded memory and learns what it missed.

/** An async iterator over received items with a bounded queue. */
export class BoundedIterator<T> implements AsyncIterableIterator<T> {
  /** Items dropped because the queue was full (oldest first). */
  dropped = 0;
  readonly capacity: number;
  private items: (T | undefined)[];
  private head = 0;
  private size = 0;
  private waiter: ((r: IteratorResult<T>) => void) | undefined;
  private failer: ((e: unknown) => void) | undefined;
  private done = false;
  private error: unknown;
  private readonly onReturn: () => void;

  constructor(capacity: number, onReturn: () => void) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.items = new Array<T | undefined>(Math.min(capacity, 64));
    this.onReturn = onReturn;
  }

  /** Items waiting to be read. */
  get length(): number {
    return this.size;
  }

  /** Adds an item (dropping the oldest when full); ignored once ended. */
  push(item: T): void {
    if (this.done) return;
    const w = this.waiter;
    if (w) {
      this.waiter = this.failer = undefined;
      w({ value: item, done: false });
      return;
    }
    if (this.size === this.capacity) {
      this.head = (this.head + 1) % this.items.length;
      this.size--;
      this.dropped++;
    } else if (this.size === this.items.length) {
      // Grow the ring (up to capacity), unrolling it from head.
      const bigger = new Array<T | undefined>(Math.min(this.capacity, this.items.length * 2));
      for (let i = 0; i < this.size; i++) bigger[i] = this.items[(this.head + i) % this.items.length];
      this.items = bigger;
      this.head = 0;
    }
    this.items[(this.head + this.size) % this.items.length] = item;
    this.size++;
  }

  /** Ends the iteration: waiting items are still read, then done (or `error` is thrown). */
  end(error?: unknown): void {
    if (this.done) return;
    this.done = true;
    this.error = error;
    if (this.waiter && this.size === 0) {
      const w = this.waiter;
      const f = this.failer!;
      this.waiter = this.failer = undefined;
      if (error !== undefined) f(error);
      else w({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.size > 0) {
      const item = this.items[this.head] as T;
      this.items[this.head] = undefined;
      this.head = (this.head + 1) % this.items.length;
      this.size--;
      return Promise.resolve({ value: item, done: false });
    }
    if (this.done) {
      if (this.error !== undefined) {
        const e = this.error;
        this.error = undefined;
        return Promise.reject(e);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    if (this.waiter) return Promise.reject(new Error('BoundedIterator: next() called again before the previous one settled'));
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.failer = reject;
    });
  }

  /** Stops listening (the subscription is released) and ends the iteration. */
  return(): Promise<IteratorResult<T>> {
    this.size = 0;
    this.end();
    this.onReturn();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
