// Broadcasts the bus does not need (docs/direct.md, "Signals the bus does not
// need"): each connection that enabled the direct path gets a page with one
// word the bus writes, saying whether any connection the sender does not
// reach on a channel (itself, a peer it has not switched to, a client without
// the direct path, a monitor, an eavesdropper) holds a match rule that could
// match its broadcast signals, and how many of the sender's markers
// (Switched, Unswitched, Revoked) the bus had read when it decided. The sender
// reads the word before each broadcast and leaves the bus out only when it
// says "nobody" for exactly the markers it sent. The word turns to "needed" at
// once, before the call that needs it returns (AddMatch, BecomeMonitor, an
// eavesdropping AddMatch, RequestName); to "nobody" later, once per turn. The
// bus's work is per rule, name, marker or monitor change, never per signal.
import { SharedWord } from '../channel/shared-word.js';
import { MATCH_TYPES, type MatchRule } from '../match/index.js';
import { DIRECT_INTERFACE } from '../names/index.js';
import { MessageType } from '../wire/index.js';
import type { Broker } from './broker.js';
import type { Connection } from './connection.js';
import { SharedFds } from './shared-fds.js';

/** Markers are counted mod 2^31 (the word holds the count shifted left by one). */
const MARKER_MASK = 0x7fffffff;
/** The members of org.fastbus.Direct1 that change which peers a sender reaches on channels. */
export const MARKERS: ReadonlySet<string> = new Set(['Switched', 'Unswitched', 'Revoked']);

/** The word's value: `markers` read, and whether nobody off the sender's channels needs its broadcasts. */
export function broadcastWord(markers: number, nobody: boolean): number {
  return (markers << 1) | (nobody ? 1 : 0);
}

interface Sender {
  word: SharedWord;
  markers: number;
  nobody: boolean;
}

/** Whether `rule` could match a broadcast signal from `unique` (only its type and sender keys can exclude one). */
function couldMatch(rule: MatchRule, unique: string, ownerCheck: (name: string, unique: string) => boolean): boolean {
  if (rule.type !== undefined && rule.type !== MATCH_TYPES.signal) return false;
  const sender = rule.sender;
  return sender === undefined || sender === unique || (sender.charCodeAt(0) !== 58 && ownerCheck(sender, unique));
}

/** The broadcast words of one bus. */
export class BroadcastNeeds {
  private readonly senders = new Map<Connection, Sender>();
  private readonly dirty = new Set<Connection>();
  private queued = false;

  constructor(private readonly bus: Broker) {}

  /**
   * Makes `conn`'s page (its word says "needed" until first computed) and
   * sends it (the Broadcasts signal, before Enable's reply). Without one,
   * all of conn's broadcasts pass the bus.
   */
  open(conn: Connection): void {
    if (this.senders.has(conn)) return;
    let made;
    try {
      made = SharedWord.make();
    } catch (e) {
      this.bus.log(`cannot make the broadcast word of ${conn.uniqueName}: ${(e as Error).message}; its signals all pass the bus`);
      return;
    }
    this.senders.set(conn, { word: made.word, markers: 0, nobody: false });
    this.recheck(conn);
    const fds = new SharedFds([made.fd]);
    this.bus.router.sendFromBus(conn, { type: MessageType.SIGNAL, flags: 0, serial: 0, path: '/org/freedesktop/DBus', interface: DIRECT_INTERFACE, member: 'Broadcasts', signature: 'h', body: [0] }, fds);
    fds.release();
  }

  /** `conn` left the bus as a peer. */
  forget(conn: Connection): void {
    const s = this.senders.get(conn);
    if (s === undefined) return;
    s.word.close();
    this.senders.delete(conn);
    this.dirty.delete(conn);
  }

  /** The bus read one of `conn`'s markers: its word shows the old count until recomputed. */
  marker(conn: Connection): void {
    const s = this.senders.get(conn);
    if (s === undefined) return;
    s.markers = (s.markers + 1) & MARKER_MASK;
    this.recheck(conn);
  }

  /** A rule was added (before AddMatch returns): senders it could match whose signals now reach its owner only through the bus. */
  ruleAdded(owner: Connection, rule: MatchRule): void {
    const direct = this.bus.direct;
    const ownerCheck = this.bus.fanOut.ownerCheck;
    for (const [c, s] of this.senders) {
      if (s.nobody && (owner === c || !direct.skips(c, owner)) && couldMatch(rule, c.uniqueName!, ownerCheck)) this.store(s, false);
    }
  }

  /**
   * A monitor or an eavesdropper is being attached (before BecomeMonitor or
   * AddMatch returns): every sender's broadcasts pass the bus again.
   */
  watched(): void {
    for (const s of this.senders.values()) if (s.nobody) this.store(s, false);
  }

  /** Rules went, a monitor left: senders whose broadcasts were needed may not be any more. */
  fewer(): void {
    for (const [c, s] of this.senders) if (!s.nobody) this.recheck(c);
  }

  /** A name changed owner: its new owner may now match rules on that name (at once), its old one may not (later). */
  ownerChanged(from: Connection | undefined, to: Connection | undefined): void {
    const s = to === undefined ? undefined : this.senders.get(to);
    if (s !== undefined && s.nobody && this.needed(to!)) this.store(s, false);
    if (from !== undefined && this.senders.has(from)) this.recheck(from);
  }

  private store(s: Sender, nobody: boolean): void {
    s.nobody = nobody;
    s.word.store(broadcastWord(s.markers, nobody));
  }

  /** Recomputes `conn`'s word after this turn (one pass for many changes). */
  private recheck(conn: Connection): void {
    this.dirty.add(conn);
    if (this.queued) return;
    this.queued = true;
    setImmediate(() => {
      this.queued = false;
      for (const c of this.dirty) {
        const s = this.senders.get(c);
        if (s !== undefined) this.store(s, !this.needed(c));
      }
      this.dirty.clear();
    });
  }

  /** Whether a connection `sender` does not reach on a channel has a rule that could match its broadcasts. */
  private needed(sender: Connection): boolean {
    const bus = this.bus;
    if (bus.monitors.size > 0 || bus.fanOut.eavesdropping) return true;
    const unique = sender.uniqueName!;
    const matches = bus.fanOut.matches;
    const ownerCheck = bus.fanOut.ownerCheck;
    for (const owner of matches.owners()) {
      if (owner !== sender && bus.direct.skips(sender, owner)) continue;
      for (const e of matches.rulesOf(owner)) if (couldMatch(e.rule, unique, ownerCheck)) return true;
    }
    return false;
  }
}
