// Which signals a subscription wants, as the fields of a match rule
// (D-Bus specification, "Match Rules"): turned into the rule the bus installs
// (formatMatchRule from src/match), and checked again locally on each signal
// that arrives (matchesRule), since one connection receives the union of all
// its rules.
import { formatMatchRule, matchesRule, MATCH_TYPES, type MatchableMessage, type MatchRule } from '../match/index.js';
import { parseSignature, type Message } from '../wire/index.js';

/** The fields of a signal match rule; every field given must match. */
export interface SignalFilter {
  /** A unique or well-known name; a well-known name follows its current owner. */
  sender?: string;
  path?: string;
  /** The path or anything below it, by whole elements. */
  pathNamespace?: string;
  interface?: string;
  member?: string;
  /** String arguments by index: `{ 0: 'x' }` is arg0='x'. */
  args?: Record<number, string>;
  /** argNpath: string or object-path arguments, equal or a '/'-ended prefix either way. */
  argPaths?: Record<number, string>;
  arg0namespace?: string;
}

/** The match rule for `filter` (type='signal' plus its fields). */
export function signalRule(filter: SignalFilter): MatchRule {
  const rule: MatchRule = { type: MATCH_TYPES.signal };
  if (filter.sender !== undefined) rule.sender = filter.sender;
  if (filter.interface !== undefined) rule.interface = filter.interface;
  if (filter.member !== undefined) rule.member = filter.member;
  if (filter.path !== undefined) rule.path = filter.path;
  if (filter.pathNamespace !== undefined) rule.pathNamespace = filter.pathNamespace;
  if (filter.args) rule.args = new Map(Object.entries(filter.args).map(([k, v]) => [Number(k), v]));
  if (filter.argPaths) rule.argPaths = new Map(Object.entries(filter.argPaths).map(([k, v]) => [Number(k), v]));
  if (filter.arg0namespace !== undefined) rule.arg0namespace = filter.arg0namespace;
  return rule;
}

/** Formats the match rule that asks the bus for the signals `filter` describes. */
export function formatSignalRule(filter: SignalFilter): string {
  return formatMatchRule(signalRule(filter));
}

/** A received message seen as match rules look at it (its arguments looked at only when a rule has arg keys). */
class MatchableSignal implements MatchableMessage {
  readonly type: number;
  readonly sender: string | undefined;
  readonly interface: string | undefined;
  readonly member: string | undefined;
  readonly path: string | undefined;
  readonly destination: string | undefined;
  private types: ReturnType<typeof parseSignature> | undefined = undefined;

  constructor(private readonly msg: Message) {
    this.type = msg.type;
    this.sender = msg.sender;
    this.interface = msg.interface;
    this.member = msg.member;
    this.path = msg.path;
    this.destination = msg.destination;
  }

  arg(index: number): { value: string; isPath: boolean } | undefined {
    const types = (this.types ??= parseSignature(this.msg.signature ?? ''));
    const code = types[index]?.code;
    if (code !== 's' && code !== 'o') return undefined;
    return { value: this.msg.body[index] as string, isPath: code === 'o' };
  }
}

/** A received message seen as match rules look at it. */
export function matchable(msg: Message): MatchableMessage {
  return new MatchableSignal(msg);
}

/**
 * Whether a received signal matches `rule`. `ownerOf(name)` gives the current
 * owner of a well-known sender name (undefined when none or unknown).
 */
export function signalMatches(rule: MatchRule, msg: MatchableMessage, ownerOf: (name: string) => string | undefined): boolean {
  return matchesRule(rule, msg, (name, unique) => ownerOf(name) === unique);
}
