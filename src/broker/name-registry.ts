// Well-known name ownership and queues (D-Bus specification, "Message Bus
// Messages" > RequestName/ReleaseName): the head of a name's queue is its
// primary owner. Operations return the reply code and the ownership changes,
// in order, for the bus to announce (NameLost, NameOwnerChanged, NameAcquired).

/** RequestName flags. */
export const NameFlags = { ALLOW_REPLACEMENT: 1, REPLACE_EXISTING: 2, DO_NOT_QUEUE: 4 } as const;
/** RequestName replies. */
export const RequestNameReply = { PRIMARY_OWNER: 1, IN_QUEUE: 2, EXISTS: 3, ALREADY_OWNER: 4 } as const;
/** ReleaseName replies. */
export const ReleaseNameReply = { RELEASED: 1, NON_EXISTENT: 2, NOT_OWNER: 3 } as const;

interface Owner<T> {
  owner: T;
  flags: number;
}

/** A change of primary owner, to be announced by the bus. `from`/`to` undefined means none. */
export interface OwnerChange<T> {
  name: string;
  from: T | undefined;
  to: T | undefined;
}

/** Names and their queues; T is the bus's connection type. */
export class NameRegistry<T> {
  private readonly names = new Map<string, Owner<T>[]>();
  private readonly byOwner = new Map<T, Set<string>>();

  /** `onCount(owner, delta)`: told each time an owner starts or stops owning or waiting for a name (per-user accounting). */
  constructor(private readonly onCount?: (owner: T, delta: number) => void) {}

  /** The primary owner of a name. */
  ownerOf(name: string): T | undefined {
    return this.names.get(name)?.[0]?.owner;
  }

  /** Names with a primary owner. */
  ownedNames(): IterableIterator<string> {
    return this.names.keys();
  }

  /** Queue of a name, primary owner first. */
  queueOf(name: string): T[] {
    return (this.names.get(name) ?? []).map((o) => o.owner);
  }

  /** Names `owner` is primary owner of. */
  namesOf(owner: T): string[] {
    return [...(this.byOwner.get(owner) ?? [])].filter((n) => this.ownerOf(n) === owner);
  }

  /** Names `owner` owns or waits for in a queue. */
  ownedOrQueuedNamesOf(owner: T): string[] {
    return [...(this.byOwner.get(owner) ?? [])];
  }

  /** Whether `owner` owns or waits for `name`. */
  holds(owner: T, name: string): boolean {
    return this.byOwner.get(owner)?.has(name) ?? false;
  }

  /** Number of names `owner` owns or waits for. */
  countOf(owner: T): number {
    return this.byOwner.get(owner)?.size ?? 0;
  }

  private link(owner: T, name: string): void {
    let set = this.byOwner.get(owner);
    if (!set) this.byOwner.set(owner, (set = new Set()));
    if (set.has(name)) return;
    set.add(name);
    this.onCount?.(owner, 1);
  }

  private unlink(owner: T, name: string): void {
    const set = this.byOwner.get(owner);
    if (!set?.delete(name)) return;
    if (set.size === 0) this.byOwner.delete(owner);
    this.onCount?.(owner, -1);
  }

  /** RequestName: the reply code and the change (if the primary owner changed). */
  request(name: string, owner: T, flags: number): { reply: number; change?: OwnerChange<T> } {
    let queue = this.names.get(name);
    if (!queue) {
      this.names.set(name, [{ owner, flags }]);
      this.link(owner, name);
      return { reply: RequestNameReply.PRIMARY_OWNER, change: { name, from: undefined, to: owner } };
    }
    const primary = queue[0];
    if (primary.owner === owner) {
      primary.flags = flags & (NameFlags.ALLOW_REPLACEMENT | NameFlags.DO_NOT_QUEUE);
      return { reply: RequestNameReply.ALREADY_OWNER };
    }
    const at = queue.findIndex((o) => o.owner === owner);
    if (flags & NameFlags.REPLACE_EXISTING && primary.flags & NameFlags.ALLOW_REPLACEMENT) {
      if (at > 0) queue.splice(at, 1);
      queue = queue.slice(1);
      if (!(primary.flags & NameFlags.DO_NOT_QUEUE)) queue.unshift(primary);
      else this.unlink(primary.owner, name);
      queue.unshift({ owner, flags: flags & (NameFlags.ALLOW_REPLACEMENT | NameFlags.DO_NOT_QUEUE) });
      this.names.set(name, queue);
      this.link(owner, name);
      return { reply: RequestNameReply.PRIMARY_OWNER, change: { name, from: primary.owner, to: owner } };
    }
    if (flags & NameFlags.DO_NOT_QUEUE) {
      if (at > 0) {
        queue.splice(at, 1);
        this.unlink(owner, name);
      }
      return { reply: RequestNameReply.EXISTS };
    }
    if (at > 0) queue[at].flags = flags & (NameFlags.ALLOW_REPLACEMENT | NameFlags.DO_NOT_QUEUE);
    else {
      queue.push({ owner, flags: flags & (NameFlags.ALLOW_REPLACEMENT | NameFlags.DO_NOT_QUEUE) });
      this.link(owner, name);
    }
    return { reply: RequestNameReply.IN_QUEUE };
  }

  /** ReleaseName: the reply code and the change (if `owner` was primary). */
  release(name: string, owner: T): { reply: number; change?: OwnerChange<T> } {
    const queue = this.names.get(name);
    if (!queue) return { reply: ReleaseNameReply.NON_EXISTENT };
    const at = queue.findIndex((o) => o.owner === owner);
    if (at < 0) return { reply: ReleaseNameReply.NOT_OWNER };
    queue.splice(at, 1);
    this.unlink(owner, name);
    if (at > 0) return { reply: ReleaseNameReply.RELEASED };
    if (queue.length === 0) this.names.delete(name);
    return { reply: ReleaseNameReply.RELEASED, change: { name, from: owner, to: queue[0]?.owner } };
  }

  /** Removes `owner` from every name and queue (disconnect); the changes in name order. */
  removeOwner(owner: T): OwnerChange<T>[] {
    const changes: OwnerChange<T>[] = [];
    for (const name of [...(this.byOwner.get(owner) ?? [])].sort()) {
      const r = this.release(name, owner);
      if (r.change) changes.push(r.change);
    }
    return changes;
  }
}
