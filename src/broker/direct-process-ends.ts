// How many ends of granted channels each process holds (docs/direct.md, "Where
// it falls back"): each end costs its process fds (segment, doorbells,
// socket, arena) and mappings, so the bus grants no channel that would take a
// process past `maxPerProcess` ends, however many connections it opens. Keyed
// by the pid the bus read at accept (SO_PEERCRED).
import type { Connection } from './connection.js';

export class ProcessEnds {
  private readonly ends = new Map<number, number>();

  constructor(private readonly maxPerProcess: number) {}

  /** Whether a channel between `a` and `b` fits within their processes' budgets (one end each; two when they are one process). */
  roomFor(a: Connection, b: Connection): boolean {
    const pa = a.credentials!.pid, pb = b.credentials!.pid;
    if (pa === pb) return this.of(pa) + 2 <= this.maxPerProcess;
    return this.of(pa) < this.maxPerProcess && this.of(pb) < this.maxPerProcess;
  }

  /** A channel between `a` and `b` was made (+1) or is gone (-1). */
  count(a: Connection, b: Connection, delta: 1 | -1): void {
    for (const pid of [a.credentials!.pid, b.credentials!.pid]) {
      const n = this.of(pid) + delta;
      if (n === 0) this.ends.delete(pid);
      else this.ends.set(pid, n);
    }
  }

  /** Channel ends process `pid` holds. */
  of(pid: number): number {
    return this.ends.get(pid) ?? 0;
  }
}
