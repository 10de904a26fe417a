// Monitors (D-Bus specification, "Monitoring": BecomeMonitor): a connection
// that leaves the bus as a peer and from then on receives a copy of every
// message its rules match (no rules: everything), the bus's own included,
// and may send nothing.
import { matchesRule, type MatchableMessage, type MatchRule } from '../match/index.js';
import type { Broker } from './broker.js';
import type { Connection } from './connection.js';
import { matchable, stamped, type Routed } from './routed.js';

/** The bus's monitors and the copies they get. */
export class Monitors {
  private readonly all = new Set<Connection>();

  constructor(private readonly bus: Broker) {}

  get size(): number {
    return this.all.size;
  }

  /**
   * Turns a connection into a monitor. As dbus-daemon: it first gives up its
   * names, its unique name first (NameLost to it, NameOwnerChanged to the
   * rules that ask, its own included), then loses its rules and becomes a
   * monitor, so it does not get copies of those signals as a monitor.
   */
  become(conn: Connection, rules: MatchRule[]): void {
    const bus = this.bus;
    const unique = conn.uniqueName!;
    bus.direct.disconnected(conn);
    bus.router.signal('NameLost', 's', [unique], conn);
    bus.router.signal('NameOwnerChanged', 'sss', [unique, unique, '']);
    bus.uniques.delete(unique);
    for (const change of bus.names.removeOwner(conn)) bus.announce(change, true);
    bus.fanOut.removeAllMatches(conn);
    conn.monitorRules = rules;
    this.all.add(conn);
  }

  /** At disconnect. */
  delete(conn: Connection): void {
    // Senders may leave the bus out of their broadcasts again.
    if (this.all.delete(conn)) this.bus.broadcasts.fewer();
  }

  /** Copies of `r` to monitors (they see everything their rules match); `recipient`: the connection it goes to, if any. */
  copy(r: Routed, recipient?: Connection): void {
    if (this.all.size === 0) return;
    let m: MatchableMessage | undefined;
    const ownerCheck = this.bus.fanOut.ownerCheck;
    for (const mon of this.all) {
      if (mon.dying !== undefined) continue;
      const rules = mon.monitorRules!;
      if (rules.length > 0) {
        m ??= matchable(r, recipient);
        const mm = m;
        if (!rules.some((rule) => matchesRule(rule, mm, ownerCheck))) continue;
      }
      if (r.fds && !mon.unixFd) continue;
      // The monitor asked for its copies: its user pays.
      this.bus.router.deliver(mon, stamped(r), r.fds, mon.account, r);
    }
  }
}
