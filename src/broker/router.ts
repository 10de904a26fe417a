// Unicast routing and the one door to a connection's queue (D-Bus
// specification, "Message Bus Specification"): a unicast message passes the
// reply check, the send and receive policy, fd support and the receiver's
// queue limits, then is queued. The bus's own messages (replies, errors,
// signals from org.freedesktop.DBus) pass the same door, where each is charged
// to the user that asked for it (queue-charges.ts). Direct-path grants
// (issue 12) hook in at routeUnicast and deliver: a granted pair's traffic
// leaves the bus there.
import { encodeMessage, MessageFlags, MessageType, type DecodedMessage, type Message } from '../wire/index.js';
import type { Broker } from './broker.js';
import { BusErrors } from './bus-error.js';
import type { BusPolicy, PolicyMessage } from './bus-policy.js';
import type { Connection } from './connection.js';
import { DRIVER_INTERFACE, DRIVER_NAME, DRIVER_PATH } from './driver-names.js';
import { QueueCharges } from './queue-charges.js';
import { policyMessage, stamped, type Routed } from './routed.js';
import type { SharedFds } from './shared-fds.js';
import type { UserAccount } from './user-accounts.js';

const TYPE_NAMES: Record<number, string> = { 1: 'method_call', 2: 'method_return', 3: 'error', 4: 'signal' };
/** What policy rules see as the names of the bus itself. */
const DRIVER_NAMES: readonly string[] = [DRIVER_NAME];

/** The AccessDenied text for a message its sender's send rules refused. */
function sendDeniedText(msg: DecodedMessage, from: Connection): string {
  return `Rejected send message: type="${TYPE_NAMES[msg.type]}", sender="${from.uniqueName}", interface="${msg.interface ?? '(unset)'}", member="${msg.member ?? '(unset)'}", destination="${msg.destination}" (denied by the bus's policy)`;
}

/** Routes unicast messages, queues every message, and sends the bus's own. */
export class Router {
  private serial = 0;
  /** Whether every queue's charges were settled in this turn of the event loop (see payerMayQueue). */
  private settledAll = false;

  constructor(private readonly bus: Broker) {}

  /** The last serial the bus used (Debug.Stats). */
  get lastSerial(): number {
    return this.serial;
  }

  /** Routes `r` from a connection to `target` (resolved from its destination). */
  routeUnicast(r: Routed, target: Connection): void {
    const bus = this.bus;
    const msg = r.msg;
    const from = r.from!;
    if (msg.type === MessageType.METHOD_RETURN || msg.type === MessageType.ERROR) {
      // An unsolicited reply is dropped; one between ends of a (revoked) channel may answer a call made on it.
      if (!bus.replies.answered(from, target, msg.replySerial!) && !bus.direct.hadChannel(from, target)) return;
    }
    const policy = bus.settings.messagePolicy?.();
    if (policy && !this.policyAllows(policy, policyMessage(r), from, target)) {
      this.replyError(from, msg, BusErrors.AccessDenied, sendDeniedText(msg, from));
      return;
    }
    if (r.fds && !target.unixFd) {
      this.replyError(from, msg, BusErrors.NotSupported, "Tried to send message with Unix file descriptors to a client that doesn't support that.");
      return;
    }
    const bytes = stamped(r);
    const size = bytes.length + (r.body?.length ?? 0);
    const isCall = msg.type === MessageType.METHOD_CALL;
    // Calls and unicast signals are the sender's doing: its user pays. Replies and errors, the caller's (it asked).
    const payer = isCall || msg.type === MessageType.SIGNAL ? from.account : target.account;
    r.payer = payer;
    const refused = this.refusal(target, payer, size);
    if (isCall) {
      // A refused call is answered to its caller; the receiver is not at fault.
      if (refused !== undefined) {
        const text = refused === 'queue' ? `The destination ${target.uniqueName} has a full message queue` : payer.queueFullText(bus.settings.limits);
        this.replyError(from, msg, BusErrors.LimitsExceeded, text);
        return;
      }
      if (!(msg.flags & MessageFlags.NO_REPLY_EXPECTED)) {
        const refusal = bus.replies.expect(from, target, msg.serial);
        if (refusal !== undefined) {
          this.replyError(from, msg, BusErrors.LimitsExceeded, refusal);
          return;
        }
      }
    } else if (refused === 'share' && msg.type === MessageType.SIGNAL) {
      // Nobody can be told that a signal was refused; the receiver is not at fault. One log line per sender.
      if (!from.overShareLogged) {
        from.overShareLogged = true;
        bus.log(`dropping unicast signals from ${from.describe()}: ${payer.queueFullText(bus.settings.limits)}`);
      }
      return;
    } else if (refused !== undefined) {
      this.dropTooSlow(target, refused, payer);
      return;
    }
    this.enqueue(target, bytes, r.fds, payer, size, r);
    bus.fanOut.toEavesdroppers(r, target);
    if (bus.direct.capableCount > 1) bus.direct.observe(from, target);
  }

  /**
   * Why `target` may not take `size` more bytes charged to `payer`: its own
   * queue is full ('queue': max_outgoing_bytes, or more than
   * max_outgoing_unix_fds fds waiting, as dbus-daemon counts them), or the
   * payer is past its share ('share', see payerMayQueue); undefined when it
   * may. Settles the target's charges first (once per message).
   */
  private refusal(target: Connection, payer: UserAccount, size: number): 'queue' | 'share' | undefined {
    const s = target.stream;
    (target.charges ??= new QueueCharges(s)).settle();
    const limits = this.bus.settings.limits;
    if (s.queuedBytes + size > limits.maxQueuedBytes || s.queuedFds > limits.maxQueuedFds) return 'queue';
    return this.payerMayQueue(payer, size, target) ? undefined : 'share';
  }

  /** Drops a receiver that cannot take a message nobody can be refused (a reply, an error, a signal it asked for). */
  private dropTooSlow(target: Connection, refused: 'queue' | 'share', payer: UserAccount): void {
    const limits = this.bus.settings.limits;
    const s = target.stream;
    this.bus.drop(target, refused === 'queue'
      ? `too slow: ${s.queuedBytes} bytes queued (max_outgoing_bytes ${limits.maxQueuedBytes}), ${s.queuedFds} fds (max_outgoing_unix_fds ${limits.maxQueuedFds})`
      : `too slow: ${payer.queueFullText(limits)}`);
  }

  /**
   * Whether `payer` may queue `size` bytes more to `target`. Under its share,
   * yes. Past it (up to twice the share), only to a receiver that does not
   * hold a good part of what the payer has waiting: the queues that do not
   * move are refused, and the payer's other receivers, which keep up, are
   * still served (on a bus of one user, one slow reader must not cut off the
   * rest). Queues are settled lazily (as messages are queued to them, and when
   * they empty); before refusing, every queue's written bytes are credited
   * back, at most once per turn of the event loop (a flood then costs one
   * pass, not one per message).
   */
  private payerMayQueue(payer: UserAccount, size: number, target: Connection): boolean {
    const limits = this.bus.settings.limits;
    if (payer.mayQueue(size, limits)) {
      if (payer.overShare) payer.overShare = false;
      return true;
    }
    if (!this.settledAll) {
      this.settledAll = true;
      setImmediate(() => {
        this.settledAll = false;
      });
      for (const c of this.bus.connections) c.charges?.settle();
      if (payer.mayQueue(size, limits)) return true;
    }
    if (!payer.overShare) {
      // One line each time a user goes over its share (not one per message refused).
      payer.overShare = true;
      this.bus.log(payer.queueFullText(limits));
    }
    return payer.mayQueue(size, limits, 2)
      && !(target.charges?.holdsMuchOf(payer, limits.maxQueuedBytesPerUser / 8, limits.maxQueuedFdsPerUser / 8) ?? false);
  }

  /**
   * Queues a message (its stamped header `bytes`, then the body `r` kept, if
   * any; `size` the two together) and its shared fds to a connection, charged
   * to `payer`'s account. A message that cannot be queued (the receiver's
   * queue limits, or the payer's share) drops the receiver.
   */
  deliver(target: Connection, bytes: Uint8Array, fds: SharedFds | undefined, payer: UserAccount, r?: Routed): void {
    if (target.closed) return;
    const size = bytes.length + (r?.body?.length ?? 0);
    const refused = this.refusal(target, payer, size);
    if (refused !== undefined) this.dropTooSlow(target, refused, payer);
    else this.enqueue(target, bytes, fds, payer, size, r);
  }

  /** Queues a message that passed refusal() (charges settled there). */
  private enqueue(target: Connection, bytes: Uint8Array, fds: SharedFds | undefined, payer: UserAccount, size: number, r?: Routed): void {
    const s = target.stream;
    target.charges!.charge(payer, size, fds === undefined ? 0 : fds.fds.length);
    target.messagesOut++;
    if (fds === undefined) s.send(bytes);
    else {
      s.send(bytes, fds.fds, fds.retain());
      if (s.queuedFds > target.peakQueuedFds) target.peakQueuedFds = s.queuedFds;
    }
    // Two sends in a row stay together: the queue is FIFO and nothing runs between them.
    const body = r?.body;
    if (body) {
      r!.bodyRefs!++;
      s.send(body, undefined, false, r!.bodyDone);
    }
    if (s.queuedBytes > target.peakQueuedBytes) target.peakQueuedBytes = s.queuedBytes;
  }

  // ---- policy ---------------------------------------------------------------

  /**
   * The sender's send rules (towards `to`) and the receive rules of `to` both
   * let the message pass; `eavesdropping` when `to` gets a copy of a message
   * addressed to someone else.
   */
  policyAllows(policy: BusPolicy, m: PolicyMessage, from: Connection | undefined, to: Connection, eavesdropping = false): boolean {
    // The bus itself has no send rules; its messages pass the receivers' receive rules as from org.freedesktop.DBus.
    if (!from) return policy.checkMessage('receive', to.uid, m, DRIVER_NAMES, eavesdropping);
    return policy.checkMessage('send', from.uid, m, to, eavesdropping, this.policyNamesOf)
      && policy.checkMessage('receive', to.uid, m, from, eavesdropping, this.policyNamesOf);
  }

  /** A connection's names as policy rules see them (made only when a rule names a peer). */
  private readonly policyNamesOf = (c: Connection): string[] => [c.uniqueName!, ...this.bus.names.ownedOrQueuedNamesOf(c)];

  /**
   * The caller's send rules let a call to the driver pass (as in dbus-daemon,
   * e.g. system.conf's denies on the driver); else it gets AccessDenied.
   * Hello is never filtered. Returns whether the driver should handle it.
   */
  driverCallAllowed(conn: Connection, r: Routed): boolean {
    const policy = this.bus.settings.messagePolicy?.();
    if (!policy) return true;
    if (policy.checkMessage('send', conn.uid, policyMessage(r), DRIVER_NAMES)) return true;
    const msg = r.msg;
    this.replyError(conn, msg, BusErrors.AccessDenied, sendDeniedText(msg, conn));
    return false;
  }

  /**
   * Before a call starts a service for `name`: the caller's send rules let it
   * go to that name (as dbus-daemon checks before activating; the receiver's
   * rules wait for the receiver). Else the caller gets AccessDenied.
   */
  activationAllowed(conn: Connection, r: Routed, name: string): boolean {
    const policy = this.bus.settings.messagePolicy?.();
    if (!policy || policy.checkMessage('send', conn.uid, policyMessage(r), [name])) return true;
    this.replyError(conn, r.msg, BusErrors.AccessDenied, sendDeniedText(r.msg, conn));
    return false;
  }

  // ---- messages from the bus itself -------------------------------------------

  /**
   * Sends a message from org.freedesktop.DBus to one connection (and monitors, unless `toMonitors` is false), with `fds` if given (`h` values index them).
   * `m` must be the caller's own new object: its serial, sender, destination (unless set: a name of `target`) and unixFds are filled in place (no copies).
   */
  sendFromBus(target: Connection, m: Message, fds?: SharedFds, toMonitors = true): void {
    if (target.closed || target.dying !== undefined) return;
    m.unixFds = fds?.fds.length;
    m.serial = ++this.serial;
    m.sender = DRIVER_NAME;
    m.destination ??= target.uniqueName;
    const bytes = encodeMessage(m);
    const r: Routed = { msg: m as DecodedMessage, bytes, frame: bytes, fds, from: undefined };
    const policy = this.bus.settings.messagePolicy?.();
    if (policy && !this.policyAllows(policy, policyMessage(r), undefined, target)) {
      this.bus.log(`policy refused ${target.describe()} a ${TYPE_NAMES[m.type]} from the bus (${m.interface ?? ''} ${m.member ?? m.errorName ?? ''})`);
      return;
    }
    if (toMonitors) this.bus.monitors.copy(r, target);
    // The receiver asked (a call to the bus, a rule, its name): its user pays.
    this.deliver(target, bytes, fds, target.account);
    this.bus.fanOut.toEavesdroppers(r, target);
  }

  /** Shows monitors a message from the bus that has no receiver yet (sent later with sendFromBus, `toMonitors` false). */
  showMonitors(m: Message): void {
    m.serial = ++this.serial;
    m.sender = DRIVER_NAME;
    const bytes = encodeMessage(m);
    this.bus.monitors.copy({ msg: m as DecodedMessage, bytes, frame: bytes, fds: undefined, from: undefined });
  }

  /** A driver signal: broadcast when `target` is undefined, else unicast. */
  signal(member: string, signature: string, body: unknown[], target?: Connection): void {
    const m: Message = {
      type: MessageType.SIGNAL, flags: 0, serial: 0, path: DRIVER_PATH, interface: DRIVER_INTERFACE, member, signature, body,
    };
    if (target) {
      this.sendFromBus(target, m);
      return;
    }
    const bytes = encodeMessage({ ...m, serial: ++this.serial, sender: DRIVER_NAME });
    const r: Routed = { msg: { ...m } as DecodedMessage, bytes, frame: bytes, fds: undefined, from: undefined };
    this.bus.monitors.copy(r);
    this.bus.fanOut.broadcast(r);
  }

  /**
   * Answers a message the bus refuses or fails with an error. As dbus-daemon
   * does, whatever the message: a call that expects no reply and a signal get
   * it too (and monitors see it).
   */
  replyError(conn: Connection, call: DecodedMessage, errorName: string, text: string): void {
    this.sendFromBus(conn, {
      type: MessageType.ERROR, flags: MessageFlags.NO_REPLY_EXPECTED, serial: 0, replySerial: call.serial, errorName, signature: 's', body: [text],
    });
  }

  /**
   * Sends `m` from the bus's end of the connection rather than from
   * org.freedesktop.DBus, as libdbus in dbus-daemon answers a call that has no
   * destination: no sender, no destination, no policy, no monitors.
   */
  sendDirect(target: Connection, m: Message): void {
    if (target.closed || target.dying !== undefined) return;
    m.serial = ++this.serial;
    this.deliver(target, encodeMessage(m), undefined, target.account);
  }

  /** Answers a method call with a return (unless it expects no reply), carrying `fds` if given. */
  reply(conn: Connection, call: DecodedMessage, signature: string, body: unknown[], fds?: SharedFds): void {
    if (call.flags & MessageFlags.NO_REPLY_EXPECTED) return;
    this.sendFromBus(conn, {
      type: MessageType.METHOD_RETURN, flags: MessageFlags.NO_REPLY_EXPECTED, serial: 0, replySerial: call.serial, signature: signature || undefined, body,
    }, fds);
  }
}
