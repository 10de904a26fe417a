// Per-user accounting (as dbus-broker does it): what the bus holds for
// connections is charged to a user as well as to a connection, so that one
// user, however many connections it opens, cannot take what the others need.
// Charged: connections (that said Hello), names owned or queued for, match
// rules, and bytes and fds waiting in queues, each to the user that asked for
// them (queue-charges.ts says which). Anonymous connections share one account.
import { ReadGroup } from '../transport/read-group.js';
import type { BrokerLimits } from './broker-settings.js';

/** What one user holds in the bus now. */
export class UserAccount {
  /** Connections that said Hello. */
  connections = 0;
  /** Names owned or queued for. */
  names = 0;
  matchRules = 0;
  /** Bytes and fds waiting in connections' queues, charged to this user. */
  queuedBytes = 0;
  queuedFds = 0;
  /** Set while the user is over its share of queued bytes or fds (the log says so once). */
  overShare = false;
  /** Its connections' shared read budget per turn of the event loop: users are read in turns (docs/broker.md). */
  readonly readGroup = new ReadGroup();
  /** Open connections of this user (said Hello or not): the account lives while any does, or while it holds anything. */
  refs = 0;

  constructor(readonly uid: number | undefined) {}

  /** Whether the account holds nothing (it may be forgotten). */
  get empty(): boolean {
    return this.refs === 0 && this.connections === 0 && this.names === 0 && this.matchRules === 0 && this.queuedBytes === 0 && this.queuedFds === 0;
  }

  /** How the log and error texts name the user. */
  describe(): string {
    return this.uid === undefined ? 'anonymous connections' : `UID ${this.uid}`;
  }

  /**
   * Whether `bytes` more may be queued on this user's account without passing
   * its share (times `factor`): one message always passes an account that holds
   * nothing. As with a connection's queue in dbus-daemon, fds count once MORE
   * than the limit wait.
   */
  mayQueue(bytes: number, limits: BrokerLimits, factor = 1): boolean {
    if (this.queuedBytes > 0 && this.queuedBytes + bytes > limits.maxQueuedBytesPerUser * factor) return false;
    return this.queuedFds <= limits.maxQueuedFdsPerUser * factor;
  }

  /** The LimitsExceeded text for a message this user may not queue. */
  queueFullText(limits: BrokerLimits): string {
    return `The messages of ${this.describe()} waiting in the bus have reached its share: ${this.queuedBytes} bytes (max_outgoing_bytes_per_user=${limits.maxQueuedBytesPerUser}), ${this.queuedFds} fds (max_outgoing_unix_fds_per_user=${limits.maxQueuedFdsPerUser})`;
  }
}

/** Every user's account, made on first use, forgotten once it holds nothing. */
export class UserAccounts {
  private readonly byUid = new Map<number, UserAccount>();
  private readonly anonymous = new UserAccount(undefined);

  /** The account of `uid` (undefined: anonymous), with one more reference (a new connection). */
  open(uid: number | undefined): UserAccount {
    let a = uid === undefined ? this.anonymous : this.byUid.get(uid);
    if (a === undefined) this.byUid.set(uid!, (a = new UserAccount(uid)));
    a.refs++;
    return a;
  }

  /** A connection of `a` closed (its charges are already credited back). */
  close(a: UserAccount): void {
    a.refs--;
    this.forgetIfEmpty(a);
  }

  /** Drops the account from the table once it holds nothing (a charge credited later may empty it). */
  forgetIfEmpty(a: UserAccount): void {
    if (a.uid !== undefined && a.empty && this.byUid.get(a.uid) === a) this.byUid.delete(a.uid);
  }

  /** Accounts in use (for tests and Stats). */
  get size(): number {
    return this.byUid.size;
  }

  get(uid: number | undefined): UserAccount | undefined {
    return uid === undefined ? this.anonymous : this.byUid.get(uid);
  }
}
