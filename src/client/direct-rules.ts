// Signals filtered at the sender (docs/direct.md, rule 6 of the direct path;
// kdbus did it with bloom filters): each end sends its match rules to its
// direct peers on the channel (a 'rules' frame, the whole set, numbered) and
// bumps its rules version in the segment first; a sender copies a broadcast
// signal to a peer only if one of the peer's rules matches it, or if the
// version it holds is not the one the peer published (a rule added since:
// copied until the new set is read). So a signal emitted after AddMatch
// returned reaches the subscriber; the receiver's own subscriptions still
// filter what arrives, so none reaches a handler after RemoveMatch returned.
import { matchesRule, parseMatchRule, type MatchableMessage, type MatchRule } from '../match/index.js';
import { parseSignature, type Message } from '../wire/index.js';
import type { DirectPeer } from './direct-peer.js';

/** The rules frame an end sends its peer. */
export interface RulesFrame {
  t: 'rules';
  v: number;
  rules: string[];
}

/** Our match rules as our direct peers hold them. */
export class RulesMirror {
  /** Bumped at each change (1 at first: a peer that has read nothing from us yet copies us everything). */
  version = 1;

  constructor(private readonly rules: () => string[]) {}

  /**
   * Our rules changed: the new version is published in each channel's
   * segment at once, so each peer copies us every signal until it has read
   * the new set, which follows on the channel.
   */
  changed(peers: Iterable<DirectPeer>): void {
    this.version = (this.version + 1) | 0;
    for (const p of peers) {
      p.grant.rulesVersion = this.version;
      if (p.out === 'direct') this.send(p);
    }
  }

  /** Sends `p` our rules (on our side of the channel, which it reads once we switched). */
  send(p: DirectPeer): void {
    if (!p.channel.isOpen) return;
    const frame: RulesFrame = { t: 'rules', v: this.version, rules: this.rules() };
    void p.channel.send(frame).catch(() => undefined);
  }
}

/** A peer's rules frame: its rules parsed (undefined: one does not parse, so everything is copied). */
export function takeRules(p: DirectPeer, frame: RulesFrame): void {
  let rules: MatchRule[] | undefined = [];
  try {
    for (const text of frame.rules) rules.push(parseMatchRule(text));
  } catch {
    rules = undefined;
  }
  p.peerRules = rules;
  p.peerRulesVersion = frame.v;
}

/** Whether `p` wants our broadcast `msg`: one of its rules matches, or its rules changed since we read them. */
export function peerWants(p: DirectPeer, msg: Message, self: MatchableSelf): boolean {
  if (p.grant.peerRulesVersion !== p.peerRulesVersion) return true;
  const rules = p.peerRules;
  if (rules === undefined) return true;
  if (rules.length === 0) return false;
  // A flood of one signal asks the same question again: the last answer holds while the rules and the names are the same.
  const c = p.wantsCache;
  if (c.rules === rules && c.path === msg.path && c.interface === msg.interface && c.member === msg.member) return c.wants;
  const m = self.matchable(msg);
  let wants = false;
  for (const rule of rules) {
    if (matchesRule(rule, m, self.ownerCheck)) {
      wants = true;
      break;
    }
  }
  if (wantsByNames(rules) && msg.path !== undefined && msg.interface !== undefined && msg.member !== undefined) {
    c.rules = rules;
    c.path = msg.path;
    c.interface = msg.interface;
    c.member = msg.member;
    c.wants = wants;
  }
  return wants;
}

/** Rules whose answer for our broadcasts follows from a signal's path, interface and member alone (the weak map keeps each set's verdict). */
const byNames = new WeakMap<MatchRule[], boolean>();

/**
 * Whether every rule looks only at what a broadcast's path, interface and member say: no
 * argument keys, and no sender key but a unique name (a well-known one matches as we gain or
 * lose it; ours is fixed). Type and destination are the same for every broadcast.
 */
function wantsByNames(rules: MatchRule[]): boolean {
  let v = byNames.get(rules);
  if (v === undefined) {
    v = rules.every((r) => r.args === undefined && r.argPaths === undefined && r.arg0namespace === undefined && (r.sender === undefined || r.sender.startsWith(':')));
    byNames.set(rules, v);
  }
  return v;
}

/** This connection as the sender that rules see: its unique name and the names it owns. */
export class MatchableSelf {
  private last: Message | undefined;
  private lastMatchable: MatchableMessage | undefined;

  constructor(private readonly uniqueName: () => string, private readonly ownNames: ReadonlySet<string>) {}

  /** sender='well.known' matches when we own the name. */
  readonly ownerCheck = (name: string, unique: string): boolean => unique === this.uniqueName() && this.ownNames.has(name);

  /** `msg` as match rules see it once the bus stamped it (made once per message, for all peers). */
  matchable(msg: Message): MatchableMessage {
    if (this.last === msg) return this.lastMatchable!;
    let types: ReturnType<typeof parseSignature> | undefined;
    const m: MatchableMessage = {
      type: msg.type,
      sender: this.uniqueName(),
      interface: msg.interface,
      member: msg.member,
      path: msg.path,
      destination: msg.destination,
      arg(index) {
        types ??= parseSignature(msg.signature ?? '');
        const code = types[index]?.code;
        if (code !== 's' && code !== 'o') return undefined;
        return { value: msg.body[index] as string, isPath: code === 'o' };
      },
    };
    this.last = msg;
    this.lastMatchable = m;
    return m;
  }
}
