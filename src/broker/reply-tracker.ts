// Replies pass only for calls that are pending (D-Bus specification, "Message
// Bus Specification": the bus drops unrequested replies). Each callee keeps,
// per caller, the serials of the calls it owes; a reply removes its serial or
// is dropped. The bus answers NoReply itself when the callee leaves, or when
// reply_timeout passes (one timer for all calls, in deadline order).
import { MessageFlags, MessageType } from '../wire/index.js';
import type { Broker } from './broker.js';
import { BusErrors } from './bus-error.js';
import type { Connection, ReplyDeadline } from './connection.js';
import { PendingSerials } from './pending-serials.js';

/** Which calls wait for which replies, and the bus's NoReply answers. */
export class ReplyTracker {
  /**
   * Calls waiting for a reply under reply_timeout, in insertion order, which
   * is deadline order (one timeout for all); each is also in its caller's
   * `replyDeadlines` by serial, where a reply finds and removes it. One timer
   * watches the first.
   */
  private readonly deadlines = new Set<ReplyDeadline>();
  private deadlineTimer: NodeJS.Timeout | undefined;

  constructor(private readonly bus: Broker) {}

  /**
   * Records that `callee` owes `caller` a reply to `serial`; returns why the
   * call is refused instead (max_replies_per_connection), else undefined.
   */
  expect(caller: Connection, callee: Connection, serial: number): string | undefined {
    const limits = this.bus.settings.limits;
    if (caller.pendingCalls >= limits.maxPendingReplies) {
      return `The maximum number of pending replies for "${caller.uniqueName}" (${limits.maxPendingReplies}) has been reached`;
    }
    let serials = callee.awaiting.get(caller);
    if (!serials) {
      callee.awaiting.set(caller, (serials = new PendingSerials()));
      caller.callees.add(callee);
    }
    // A serial used again while its call is pending (a client's bug) is one call: one reply ends it.
    if (serials.add(serial)) caller.pendingCalls++;
    if (limits.replyTimeoutMs > 0) this.addDeadline(caller, callee, serial, limits.replyTimeoutMs);
    return undefined;
  }

  /** A reply from `callee` to `caller`'s call `replySerial`: true when that call was pending (it no longer is). */
  answered(callee: Connection, caller: Connection, replySerial: number): boolean {
    const serials = callee.awaiting.get(caller);
    if (!serials || !serials.delete(replySerial)) return false;
    // The pair's entry stays (empty) while both live: the next call reuses it.
    caller.pendingCalls--;
    if (this.deadlines.size > 0) {
      const d = caller.replyDeadlines?.get(replySerial);
      if (d !== undefined) {
        caller.replyDeadlines!.delete(replySerial);
        this.deadlines.delete(d);
      }
    }
    return true;
  }

  /** At disconnect: `conn` waits for nobody, and everyone who waited on it gets NoReply from the bus. */
  disconnected(conn: Connection): void {
    for (const callee of conn.callees) callee.awaiting.delete(conn);
    conn.callees.clear();
    for (const [caller, serials] of conn.awaiting) {
      caller.callees.delete(conn);
      caller.pendingCalls -= serials.size;
      for (const serial of serials) this.noReply(caller, serial, 'Message recipient disconnected from message bus without replying');
    }
    conn.awaiting.clear();
  }

  /** Stops the timer (the bus closes). */
  close(): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
  }

  private noReply(caller: Connection, serial: number, text: string): void {
    this.bus.router.sendFromBus(caller, {
      type: MessageType.ERROR, flags: MessageFlags.NO_REPLY_EXPECTED, serial: 0, replySerial: serial,
      errorName: BusErrors.NoReply, signature: 's', body: [text],
    });
  }

  /** Remembers when the bus gives up on a call; one timer serves every pending call. */
  private addDeadline(caller: Connection, callee: Connection, serial: number, timeoutMs: number): void {
    const byCaller = (caller.replyDeadlines ??= new Map());
    // A serial used again (a client's bug) restarts its wait at the end, keeping the order.
    const old = byCaller.get(serial);
    if (old !== undefined) this.deadlines.delete(old);
    const d: ReplyDeadline = { caller, callee, serial, atMs: Date.now() + timeoutMs };
    byCaller.set(serial, d);
    this.deadlines.add(d);
    if (this.deadlineTimer === undefined) this.armDeadlineTimer();
  }

  private armDeadlineTimer(): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    for (const first of this.deadlines.values()) {
      this.deadlineTimer = setTimeout(() => this.expireCalls(), Math.max(0, first.atMs - Date.now()));
      this.deadlineTimer.unref();
      break;
    }
  }

  /**
   * Answers NoReply (from the bus) to each call past its deadline that is
   * still pending; its reply, if it comes later, is then unsolicited and dropped.
   * (After a reload shortens reply_timeout, newer calls wait behind older ones at most once.)
   */
  private expireCalls(): void {
    this.deadlineTimer = undefined;
    const now = Date.now();
    for (const d of this.deadlines) {
      const { caller, callee, serial, atMs } = d;
      if (atMs > now) break;
      this.deadlines.delete(d);
      caller.replyDeadlines!.delete(serial);
      // The pair's entry stays (empty) while both live, as after a reply.
      if (!callee.awaiting.get(caller)?.delete(serial)) continue;
      caller.pendingCalls--;
      this.noReply(caller, serial, 'Message did not receive a reply (timeout by message bus)');
    }
    this.armDeadlineTimer();
  }
}
