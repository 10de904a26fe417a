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

  /** Turns a connection into a monitor: it loses its names and rules, and everyone hears its unique name go. */
  become(conn: Connection, rules: MatchRule[]): void {
    const bus = this.bus;
    const unique = conn.uniqueName!;
    bus.direct.disconnected(conn);
    for (const change of bus.names.removeOwner(conn)) bus.announce(change, true);
    bus.fanOut.removeAllMatches(conn);
    // Like dbus-daemon, the monitor hears it lost its unique name (busctl waits for this).
    bus.router.signal('NameLost', 's', [unique], conn);
    conn.monitorRules = rules;
    this.all.add(conn);
    bus.router.signal('NameOwnerChanged', 'sss', [unique, unique, '']);
    bus.uniques.delete(unique);
  }

  /** At disconnect. */
  delete(conn: Connection): void {
    this.all.delete(conn);
  }

  /** Copies of `r` to monitors (they see everything their rules match). */
  copy(r: Routed): void {
    if (this.all.size === 0) return;
    let m: MatchableMessage | undefined;
    const ownerCheck = this.bus.fanOut.ownerCheck;
    for (const mon of this.all) {
      if (mon.dying !== undefined) continue;
      const rules = mon.monitorRules!;
      if (rules.length > 0) {
        m ??= matchable(r);
        const mm = m;
        if (!rules.some((rule) => matchesRule(rule, mm, ownerCheck))) continue;
      }
      if (r.fds && !mon.unixFd) continue;
      this.bus.router.deliver(mon, stamped(r), r.fds, r);
    }
  }
}
