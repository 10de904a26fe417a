// Match rules and fan-out (D-Bus specification, "Match Rules"): the bus's
// rules in one index; a broadcast reaches each connection with a matching rule
// once, and copies of unicast messages reach eavesdroppers (rules with
// eavesdrop='true'), each under the receive policy. Each fan-out is a
// generation number: a connection marked with it has had its copy.
import { MatchIndex, type MatchRule } from '../match/index.js';
import type { Broker } from './broker.js';
import { BusError, BusErrors } from './bus-error.js';
import type { BusPolicy, PolicyMessage } from './bus-policy.js';
import type { Connection } from './connection.js';
import { DRIVER_NAME } from './driver-names.js';
import { matchable, policyMessage, stamped, type Routed } from './routed.js';

/** The bus's match rules and the delivery of broadcasts and eavesdropped copies. */
export class FanOut {
  readonly matches = new MatchIndex<Connection>();
  /** The most rules held at once (Debug.Stats). */
  peakMatchRules = 0;
  private generation = 0;
  private eavesdropRules = 0;

  constructor(private readonly bus: Broker) {}

  /** AddMatch: refused with LimitsExceeded past max_match_rules_per_connection. */
  addMatch(conn: Connection, rule: MatchRule, text: string): void {
    const limits = this.bus.settings.limits;
    const max = limits.maxMatchRules;
    if (this.matches.countOf(conn) >= max) {
      throw new BusError(BusErrors.LimitsExceeded, `Connection "${conn.uniqueName}" is not allowed to add more match rules (increase limits in configuration file if required; max_match_rules_per_connection=${max})`);
    }
    const account = conn.account;
    if (account.matchRules >= limits.maxMatchRulesPerUser) {
      throw new BusError(BusErrors.LimitsExceeded, `The connections of ${account.describe()} are not allowed to add more match rules (max_match_rules_per_user=${limits.maxMatchRulesPerUser})`);
    }
    this.matches.add(conn, rule, text);
    account.matchRules++;
    if (rule.eavesdrop) {
      this.eavesdropRules++;
      // Before AddMatch returns: what a direct peer sends after it passes the bus, where the eavesdropper sees it.
      this.bus.direct.revokeAll();
    } else {
      // Before AddMatch returns: senders it could match send their broadcasts to the bus again.
      this.bus.broadcasts.ruleAdded(conn, rule);
    }
    if (this.matches.size > this.peakMatchRules) this.peakMatchRules = this.matches.size;
  }

  /** RemoveMatch: false when `conn` has no such rule. */
  removeMatch(conn: Connection, rule: MatchRule, text: string): boolean {
    const ok = this.matches.remove(conn, text);
    if (!ok) return false;
    if (rule.eavesdrop) this.eavesdropRules--;
    conn.account.matchRules--;
    this.bus.broadcasts.fewer();
    return true;
  }

  removeAllMatches(conn: Connection): void {
    let had = false;
    for (const e of this.matches.rulesOf(conn)) {
      if (e.rule.eavesdrop) this.eavesdropRules -= e.count;
      conn.account.matchRules -= e.count;
      had = true;
    }
    this.matches.removeOwner(conn);
    if (had) this.bus.broadcasts.fewer();
  }

  /** Whether any rule eavesdrops (routing skips toEavesdroppers otherwise). */
  get eavesdropping(): boolean {
    return this.eavesdropRules > 0;
  }

  /** Whether `unique` is the primary owner of `name` (sender='well.known' in rules). */
  readonly ownerCheck = (name: string, unique: string): boolean => {
    if (name === DRIVER_NAME) return unique === DRIVER_NAME;
    return this.bus.names.ownerOf(name)?.uniqueName === unique;
  };

  /** Broadcast: to every connection with a matching rule, once each. */
  broadcast(r: Routed): void {
    this.fanOut(r, ++this.generation, this.bus.settings.messagePolicy?.(), false);
  }

  /** Copies of a unicast message to connections eavesdropping on it (`target` has it already). */
  toEavesdroppers(r: Routed, target: Connection | undefined): void {
    if (this.eavesdropRules === 0) return;
    const mark = ++this.generation;
    if (target) target.mark = mark;
    this.fanOut(r, mark, this.bus.settings.eavesdropPolicy?.(), true, target);
  }

  /**
   * Delivers `r` once to each owner of a matching rule not yet marked with
   * `mark` (eavesdropping rules only, when `eavesdrop`), under `policy` if any.
   */
  private fanOut(r: Routed, mark: number, policy: BusPolicy | undefined, eavesdrop: boolean, recipient?: Connection): void {
    const router = this.bus.router;
    // What the policy sees of the message is the same for every recipient: made once, on first use.
    let pm: PolicyMessage | undefined;
    this.matches.forEachMatch(matchable(r, recipient), (e) => {
      const o = e.owner;
      if (o.mark === mark || o.dying !== undefined || o.closed) return;
      o.mark = mark;
      // A direct peer gets its sender's signals on their channel.
      if (r.from !== undefined && this.bus.direct.skips(r.from, o)) return;
      if (r.fds && !o.unixFd) return;
      // Replies reach a fan-out only as eavesdropped copies of requested ones.
      if (policy && !router.policyAllows(policy, (pm ??= policyMessage(r)), r.from, o, eavesdrop)) return;
      // The receiver's rule asked for it: its user pays.
      router.deliver(o, stamped(r), r.fds, o.account, r);
    }, this.ownerCheck, eavesdrop ? (e) => e.rule.eavesdrop === true && e.owner.mark !== mark : (e) => e.owner.mark !== mark);
  }
}
