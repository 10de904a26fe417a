// The serials of the calls one connection waits on another to answer. Replies
// mostly come in call order, so a short array searched from its oldest entry
// serves them without the allocations a Set makes on every add and delete
// (its table is rebuilt as deleted slots pile up); past a few dozen pending
// calls a Set takes over, so that answers in any order stay cheap.

/** Pending calls above this switch to a Set. */
const MAX_LISTED = 32;

/** A set of serials, cheap for the usual few-at-a-time, oldest-first traffic. */
export class PendingSerials implements Iterable<number> {
  private list: number[] = [];
  private head = 0;
  private tail = 0;
  private set: Set<number> | undefined;

  get size(): number {
    return this.set ? this.set.size : this.tail - this.head;
  }

  has(serial: number): boolean {
    if (this.set) return this.set.has(serial);
    return this.indexOf(serial) >= 0;
  }

  /** Adds `serial`; false when it was there already (a set holds it once). */
  add(serial: number): boolean {
    if (this.set) {
      if (this.set.has(serial)) return false;
      this.set.add(serial);
      return true;
    }
    if (this.indexOf(serial) >= 0) return false;
    if (this.tail - this.head >= MAX_LISTED) {
      this.set = new Set(this.list.slice(this.head, this.tail));
      this.set.add(serial);
      this.list = [];
      this.head = this.tail = 0;
      return true;
    }
    if (this.tail === this.list.length && this.head > 0) {
      // Move the live entries down instead of growing.
      this.list.copyWithin(0, this.head, this.tail);
      this.tail -= this.head;
      this.head = 0;
    }
    if (this.tail === this.list.length) this.list.push(serial);
    else this.list[this.tail] = serial;
    this.tail++;
    return true;
  }

  /** Removes `serial`; false when it was not there. */
  delete(serial: number): boolean {
    if (this.set) {
      const ok = this.set.delete(serial);
      if (ok && this.set.size === 0) this.set = undefined;
      return ok;
    }
    const i = this.indexOf(serial);
    if (i < 0) return false;
    if (i === this.head) this.head++;
    else {
      this.list.copyWithin(i, i + 1, this.tail);
      this.tail--;
    }
    if (this.head === this.tail) this.head = this.tail = 0;
    return true;
  }

  *[Symbol.iterator](): Iterator<number> {
    if (this.set) yield* [...this.set];
    else yield* this.list.slice(this.head, this.tail);
  }

  private indexOf(serial: number): number {
    const l = this.list;
    for (let i = this.head; i < this.tail; i++) if (l[i] === serial) return i;
    return -1;
  }
}
