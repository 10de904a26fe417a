// Fair reading across groups of streams (the broker makes one group per user):
// in one turn of the event loop (one batch of readiness callbacks), the unix
// streams of a group together spend at most `msPerTurn` reading and handling
// what they read; past it, the group's other ready streams wait for the next
// turn (the poll is level-triggered: they are reported again). So a group with
// hundreds of busy connections makes a turn about one budget longer for
// everyone else, not hundreds.
// Within a group, streams skipped in one turn go first in the next: those that
// read in it yield once.
import { loopTurns } from '../native/native.js';

/**
 * How long the streams of one group may spend per loop turn reading and
 * handling what they read (routing, fan-out, writing), unless told otherwise.
 * Time, not bytes: a broadcast read once may cost hundreds of deliveries.
 */
export const READ_MS_PER_TURN = 0.5;

/** A stream as its group sees it: the turn it last read in. */
export interface GroupReader {
  readTurn: number;
}

/** Streams that share one read budget per turn of this thread's event loop. */
export class ReadGroup {
  private turn = -1;
  private left = 0;
  /** When the time the group has spent was last counted (performance.now()). */
  private since = 0;
  /** Streams skipped for the budget in `turn`, and in the turn before it. */
  private skipped = 0;
  private skippedBefore = 0;
  private readonly turns = loopTurns();

  /** `clock`: milliseconds, performance.now() unless a test gives its own. */
  constructor(readonly msPerTurn = READ_MS_PER_TURN, private readonly clock: () => number = () => performance.now()) {}

  /**
   * Whether `reader` may read now (false: it waits for the next turn, its
   * readiness is reported again). Once allowed, it reads and handles messages
   * while `exhausted` is false; the time from here to each look at
   * `exhausted` is spent from the group's budget.
   */
  mayRead(reader: GroupReader): boolean {
    const now = this.refresh();
    // Streams skipped last turn go first: one that read then yields to them once.
    if (this.skippedBefore > 0 && reader.readTurn === ((now - 1) >>> 0)) return false;
    if (this.left <= 0) {
      this.skipped++;
      return false;
    }
    reader.readTurn = now;
    this.since = this.clock();
    return true;
  }

  /** Whether this turn's budget is spent, counting the time since mayRead() or the last look. */
  get exhausted(): boolean {
    const t = this.clock();
    if (this.turn === this.turns[0]) this.left -= t - this.since;
    this.since = t;
    this.refresh();
    return this.left <= 0;
  }

  /**
   * Moves `ms` this group spent (in this turn) to `to`'s account: work done
   * by one group's stream for another (a service's replies to another user's
   * calls). A group may so owe more than a turn's budget: it then waits as
   * many turns as it owes.
   */
  transfer(to: ReadGroup, ms: number): void {
    this.refresh();
    this.left += ms;
    to.refresh();
    to.left -= ms;
  }

  /** Starts the budget of a new turn, if one began (a debt is paid a budget per turn); returns the current turn. */
  private refresh(): number {
    const now = this.turns[0];
    if (now !== this.turn) {
      const turns = (now - this.turn) >>> 0;
      this.skippedBefore = turns === 1 ? this.skipped : 0;
      this.skipped = 0;
      this.left = this.turn === -1 ? this.msPerTurn : Math.min(this.msPerTurn, this.left + this.msPerTurn * turns);
      this.turn = now;
    }
    return now;
  }
}
