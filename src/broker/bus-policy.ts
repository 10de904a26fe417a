// `<policy>` rules, evaluated as dbus-daemon(1) "policy" describes: default
// blocks, group blocks, user blocks, at_console="true" or "false" blocks, then
// mandatory ones; the last matching rule wins and nothing matching means deny.
// A message needs the sender's send_* rules and each recipient's receive_*
// rules; eavesdrop, send/receive_requested_reply, min_fds and max_fds narrow
// which rules match. Ownership (own, own_prefix): nothing matching denies.
import { existsSync, readFileSync } from 'node:fs';
import type { PolicyBlock, PolicyRule } from './bus-config.js';

function idOf(file: string, name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === name) return Number(f[2]);
    }
  } catch {
    // no such database
  }
  return undefined;
}

function userName(uid: number): string | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (Number(f[2]) === uid && f[2] !== '') return f[0];
    }
  } catch {
    // no database
  }
  return undefined;
}

function groupsOf(uid: number): number[] {
  const out: number[] = [];
  try {
    const passwd = readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':'));
    const me = passwd.find((f) => Number(f[2]) === uid);
    if (me) out.push(Number(me[3]));
    for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
      const f = line.split(':');
      if (me && (f[3] ?? '').split(',').includes(me[0])) out.push(Number(f[2]));
    }
  } catch {
    // no databases
  }
  return out;
}

/**
 * Whether `uid` is "at the console", as a dbus-daemon built with systemd
 * decides: on a systemd-booted machine, when logind lists a seat for the
 * user (/run/systemd/users/UID, SEATS=); elsewhere, when the console
 * directory has a file named after the user (/var/run/console/USER).
 */
export function isAtConsole(uid: number): boolean {
  if (existsSync('/run/systemd/system')) {
    try {
      const seats = /^SEATS=(.*)$/m.exec(readFileSync(`/run/systemd/users/${uid}`, 'utf8'));
      return seats !== null && seats[1].trim() !== '';
    } catch {
      return false;
    }
  }
  const name = userName(uid);
  return name !== undefined && existsSync(`/var/run/console/${name}`);
}

/** What message rules look at. */
export interface PolicyMessage {
  type: number;
  interface?: string;
  member?: string;
  errorName?: string;
  path?: string;
  destination?: string;
  /** Unix fds the message carries. */
  unixFds?: number;
  /** A reply (return or error) to a call that is pending. */
  requestedReply: boolean;
}

const TYPE_CODES: Record<string, number> = { method_call: 1, method_return: 2, error: 3, signal: 4 };

/** One send or receive rule, with its attributes read once. */
interface MessageRule {
  allow: boolean;
  direction: 'send' | 'receive';
  type?: number;
  path?: string;
  interface?: string;
  member?: string;
  error?: string;
  /** send_destination or receive_sender ('*' = any). */
  peer?: string;
  peerPrefix?: string;
  broadcast?: boolean;
  /** Defaults: true for allow, false for deny (dbus-daemon(1)). */
  requestedReply: boolean;
  eavesdrop: boolean;
  minFds: number;
  maxFds: number;
}

function messageRule(r: PolicyRule): MessageRule | undefined {
  const a = r.attributes;
  const keys = Object.keys(a);
  const send = keys.some((k) => k.startsWith('send_'));
  const receive = keys.some((k) => k.startsWith('receive_'));
  // A rule with eavesdrop and nothing of send_*/receive_* is a receive rule.
  if (!send && !receive && a.eavesdrop === undefined) return undefined;
  const direction = send ? 'send' : 'receive';
  const p = `${direction}_`;
  const any = (v: string | undefined): string | undefined => (v === '*' ? undefined : v);
  const type = a[`${p}type`];
  const rr = a[`${p}requested_reply`];
  return {
    allow: r.allow,
    direction,
    type: type === undefined || type === '*' ? undefined : TYPE_CODES[type] ?? -1,
    path: any(a[`${p}path`]),
    interface: any(a[`${p}interface`]),
    member: any(a[`${p}member`]),
    error: any(a[`${p}error`]),
    peer: a[send ? 'send_destination' : 'receive_sender'],
    peerPrefix: send ? a.send_destination_prefix : undefined,
    broadcast: a.send_broadcast === undefined ? undefined : a.send_broadcast === 'true',
    requestedReply: rr === undefined ? r.allow : rr === 'true',
    eavesdrop: a.eavesdrop === 'true',
    minFds: a.min_fds === undefined ? 0 : Number(a.min_fds),
    maxFds: a.max_fds === undefined ? Infinity : Number(a.max_fds),
  };
}

/** Whether `rule` matches `m` (not whether it allows it), its peer names aside (see `matchesPeer`). */
function matches(rule: MessageRule, m: PolicyMessage, eavesdropping: boolean): boolean {
  if (rule.type !== undefined && rule.type !== m.type) return false;
  if (rule.direction === 'receive') {
    // allow: only eavesdrop="true" covers an eavesdropped copy; deny with eavesdrop="true": only those.
    if (eavesdropping && rule.allow && !rule.eavesdrop) return false;
    if (!eavesdropping && !rule.allow && rule.eavesdrop) return false;
  }
  if (m.type === 2 || m.type === 3) {
    if (!m.requestedReply && rule.allow && rule.requestedReply && !rule.eavesdrop) return false;
    if (m.requestedReply && !rule.allow && !rule.requestedReply) return false;
  }
  // A header field the message lacks does not stop the rule; a missing interface stops only allow rules.
  if (rule.path !== undefined && m.path !== undefined && m.path !== rule.path) return false;
  if (rule.interface !== undefined && (m.interface === undefined ? rule.allow : m.interface !== rule.interface)) return false;
  if (rule.member !== undefined && m.member !== undefined && m.member !== rule.member) return false;
  if (rule.error !== undefined && m.errorName !== undefined && m.errorName !== rule.error) return false;
  if (rule.broadcast !== undefined && rule.broadcast !== (m.destination === undefined && m.type === 4)) return false;
  const fds = m.unixFds ?? 0;
  return fds >= rule.minFds && fds <= rule.maxFds;
}

/** Whether `rule` names a peer (send_destination, its prefix, receive_sender): only then are the peer's names needed. */
function namesPeer(rule: MessageRule): boolean {
  return (rule.peer !== undefined && rule.peer !== '*') || rule.peerPrefix !== undefined;
}

/** Whether the peer `rule` names is among `peerNames`. */
function matchesPeer(rule: MessageRule, peerNames: readonly string[]): boolean {
  if (rule.peer !== undefined && rule.peer !== '*' && !peerNames.includes(rule.peer)) return false;
  if (rule.peerPrefix !== undefined) {
    const prefix = rule.peerPrefix;
    if (!peerNames.some((n) => n === prefix || n.startsWith(prefix + '.'))) return false;
  }
  return true;
}

/** A peer given as its names. */
const givenNames = (names: readonly string[]): readonly string[] => names;

/** The `<policy>` of a configuration: who may own which names, send and receive which messages. */
export class BusPolicy {
  private readonly cache = new Map<number | undefined, { rules: PolicyRule[]; send: MessageRule[]; receive: MessageRule[] }>();
  /** Every message that is not eavesdropped passes (a session-style policy): checks can be skipped. */
  readonly open: boolean;
  /** Eavesdropped copies pass as well. */
  readonly openToEavesdropping: boolean;

  constructor(private readonly blocks: PolicyBlock[], private readonly atConsole: (uid: number) => boolean = isAtConsole) {
    const all = blocks.flatMap((b) => b.rules.map(messageRule)).filter((r): r is MessageRule => r !== undefined);
    const defaults = blocks.filter((b) => b.context === 'default').flatMap((b) => b.rules.map(messageRule));
    const plain = (r: MessageRule | undefined): r is MessageRule => r !== undefined && r.allow && r.type === undefined && r.path === undefined
      && r.interface === undefined && r.member === undefined && r.error === undefined && r.peerPrefix === undefined
      && r.broadcast === undefined && r.minFds === 0 && r.maxFds === Infinity && (r.peer === undefined || r.peer === '*');
    const plainDefaults = defaults.filter(plain);
    const sendAll = plainDefaults.some((r) => r.direction === 'send' && r.peer === '*');
    const receiveAll = plainDefaults.filter((r) => r.direction === 'receive');
    const noDenies = !all.some((r) => !r.allow);
    this.open = noDenies && sendAll && receiveAll.length > 0;
    this.openToEavesdropping = this.open && receiveAll.some((r) => r.eavesdrop);
  }

  /** Rules that apply to `uid`, in evaluation order. */
  private rulesFor(uid: number | undefined): PolicyRule[] {
    const userMatches = (b: PolicyBlock): boolean => b.user === '*' || (uid !== undefined && idOf('/etc/passwd', b.user!) === uid);
    const groups = uid === undefined ? [] : groupsOf(uid);
    const groupMatches = (b: PolicyBlock): boolean => b.group === '*' || groups.includes(idOf('/etc/group', b.group!) ?? -1);
    const console = uid === undefined ? undefined : this.atConsole(uid);
    const order = [
      ...this.blocks.filter((b) => b.context === 'default'),
      ...this.blocks.filter((b) => b.group !== undefined && groupMatches(b)),
      ...this.blocks.filter((b) => b.user !== undefined && userMatches(b)),
      ...this.blocks.filter((b) => b.atConsole === true && console === true),
      ...this.blocks.filter((b) => b.atConsole === false && console === false),
      ...this.blocks.filter((b) => b.context === 'mandatory'),
    ];
    return order.flatMap((b) => b.rules);
  }

  private forUid(uid: number | undefined): { rules: PolicyRule[]; send: MessageRule[]; receive: MessageRule[] } {
    let entry = this.cache.get(uid);
    if (!entry) {
      const rules = this.rulesFor(uid);
      const message = rules.map(messageRule).filter((r): r is MessageRule => r !== undefined);
      entry = { rules, send: message.filter((r) => r.direction === 'send'), receive: message.filter((r) => r.direction === 'receive') };
      this.cache.set(uid, entry);
    }
    return entry;
  }

  /**
   * Whether a connection authenticated as `uid` may stay: the bus's own user
   * may by default, then `user`/`group` rules of default and mandatory blocks
   * decide, the last matching one winning (dbus-daemon(1)).
   */
  allowsUser(uid: number): boolean {
    let allowed = uid === process.geteuid?.();
    let groups: number[] | undefined;
    const blocks = [...this.blocks.filter((b) => b.context === 'default'), ...this.blocks.filter((b) => b.context === 'mandatory')];
    for (const r of blocks.flatMap((b) => b.rules)) {
      const { user, group } = r.attributes;
      if (user !== undefined) {
        if (user !== '*' && idOf('/etc/passwd', user) !== uid) continue;
      } else if (group !== undefined) {
        groups ??= groupsOf(uid);
        if (group !== '*' && !groups.includes(idOf('/etc/group', group) ?? -1)) continue;
      } else continue;
      allowed = r.allow;
    }
    return allowed;
  }

  /** Whether a connection of `uid` may own `name`. */
  canOwn(uid: number | undefined, name: string): boolean {
    let allowed = false;
    for (const r of this.forUid(uid).rules) {
      const own = r.attributes.own;
      const prefix = r.attributes.own_prefix;
      if (own !== undefined && (own === '*' || own === name)) allowed = r.allow;
      else if (prefix !== undefined && (name === prefix || name.startsWith(prefix + '.'))) allowed = r.allow;
    }
    return allowed;
  }

  /**
   * Whether a message may pass: `direction` picks the send rules of the
   * sender (`uid`; `peerNames` = names the recipient owns or queues for) or
   * the receive rules of a recipient (`peerNames` = the sender's names).
   * `eavesdropping`: the recipient gets a copy of a message addressed to someone else.
   * The peer may be given as anything `namesOf` turns into its names, asked
   * at most once and only when a rule that names a peer is reached.
   */
  checkMessage<P = readonly string[]>(
    direction: 'send' | 'receive', uid: number | undefined, m: PolicyMessage, peer: P, eavesdropping = false,
    namesOf = givenNames as (peer: P) => readonly string[],
  ): boolean {
    const entry = this.forUid(uid);
    const rules = direction === 'send' ? entry.send : entry.receive;
    let peerNames: readonly string[] | undefined;
    // The last matching rule wins: scan from the end and stop at the first match.
    for (let i = rules.length - 1; i >= 0; i--) {
      const rule = rules[i];
      if (!matches(rule, m, eavesdropping)) continue;
      if (namesPeer(rule) && !matchesPeer(rule, (peerNames ??= namesOf(peer)))) continue;
      return rule.allow;
    }
    return false;
  }
}
