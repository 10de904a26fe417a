// One client of the bus: its stream, identity (credentials read at accept,
// uid from authentication, unique name from Hello), the calls it waits on and
// the calls others wait on it for, monitor state and counters for Stats.
import * as native from '../native/native.js';
import type { MatchRule } from '../match/index.js';
import type { PendingSerials } from './pending-serials.js';
import type { MessageStream, PeerCredentials } from '../transport/index.js';
import type { QueueCharges } from './queue-charges.js';
import { SharedFds } from './shared-fds.js';
import type { UserAccount } from './user-accounts.js';

/** When the bus gives up on one call and answers NoReply (reply_timeout). */
export interface ReplyDeadline {
  readonly caller: Connection;
  readonly callee: Connection;
  readonly serial: number;
  readonly atMs: number;
}

/** A connection to the bus, from accept to disconnect. */
export class Connection {
  /** Unique name once Hello is handled. */
  uniqueName: string | undefined;
  /** Whether Hello was answered. */
  helloDone = false;
  private awaitingMap: Map<Connection, PendingSerials> | undefined;
  private calleeSet: Set<Connection> | undefined;
  /** Callers waiting for this connection's replies: caller → serials of their calls (possibly none now). Made on first use. */
  get awaiting(): Map<Connection, PendingSerials> {
    return (this.awaitingMap ??= new Map());
  }
  /** Connections this one has called (an entry in their `awaiting`). Made on first use. */
  get callees(): Set<Connection> {
    return (this.calleeSet ??= new Set());
  }
  /** Calls this connection made that still wait for a reply. */
  pendingCalls = 0;
  /** Its pending calls under reply_timeout, by serial (the broker's deadline entries). Made on first use. */
  replyDeadlines: Map<number, ReplyDeadline> | undefined;
  /** Set when this connection became a monitor: its rules (empty: everything). */
  monitorRules: MatchRule[] | undefined;
  /** Fan-out generation last delivered (a message reaches a connection once). */
  mark = 0;
  /** Set once the bus decided to drop the connection; nothing more is delivered. */
  dying: string | undefined;
  closed = false;
  /** Who pays for what waits in this connection's queue (made on first delivery). */
  charges: QueueCharges | undefined;
  /** Whether the log already said that this connection's unicast signals are dropped (its user is over its share). */
  overShareLogged = false;
  private processFdShared: SharedFds | undefined;
  // Counters for Debug.Stats.GetConnectionStats (fields, not an object of their own: one less per connection).
  messagesIn = 0;
  bytesIn = 0;
  messagesOut = 0;
  peakQueuedBytes = 0;
  peakQueuedFds = 0;

  constructor(
    readonly id: number,
    readonly stream: MessageStream,
    readonly credentials: PeerCredentials | undefined,
    /** The uid authentication proved (undefined for ANONYMOUS). */
    readonly uid: number | undefined,
    /** Whether unix fds were negotiated. */
    readonly unixFd: boolean,
    /** The account of its user (per-user limits). */
    readonly account: UserAccount,
  ) {}

  /**
   * The peer's pidfd (from SO_PEERPIDFD) as fds that replies carrying it as
   * ProcessFD share, made on first use (most connections are never asked);
   * undefined without one or once closed. releaseProcessFd() closes it after the last send.
   */
  get processFd(): SharedFds | undefined {
    const pidfd = this.credentials?.pidfd;
    if (pidfd === undefined || this.closed) return undefined;
    return (this.processFdShared ??= new SharedFds([pidfd]));
  }

  /** At disconnect (once, after `closed` is set): closes the pidfd, or lets the last queued reply carrying it close it. */
  releaseProcessFd(): void {
    const pidfd = this.credentials?.pidfd;
    if (pidfd === undefined) return;
    if (this.processFdShared) this.processFdShared.release();
    else native.fdClose(pidfd);
  }

  /** How the log names this connection. */
  describe(): string {
    const who = this.credentials ? `pid ${this.credentials.pid}, uid ${this.credentials.uid}` : this.stream.kind;
    return `${this.uniqueName ?? `connection #${this.id}`} (${who})`;
  }
}
