// Match rules (D-Bus specification, "Match Rules"): parse and format the
// string form, and test a message against a rule. Syntax: key='value' pairs
// separated by commas; inside quotes a backslash is ordinary, outside quotes
// \' stands for an apostrophe; at most 1024 bytes; unknown or repeated keys,
// path with path_namespace, and invalid names are errors (MatchRuleInvalid).

/** Message types as match rules name them (the wire's numbers). */
export const MATCH_TYPES: Record<string, number> = { method_call: 1, method_return: 2, error: 3, signal: 4 };

/** The specification's limit on a rule's length in bytes. */
export const MAX_MATCH_RULE_LENGTH = 1024;
/** argN goes up to arg63. */
export const MAX_MATCH_ARG = 63;

/** A parsed rule: only the keys present are set. */
export interface MatchRule {
  type?: number;
  sender?: string;
  interface?: string;
  member?: string;
  path?: string;
  pathNamespace?: string;
  destination?: string;
  /** argN='value' (strings only). */
  args?: Map<number, string>;
  /** argNpath='value' (strings and object paths). */
  argPaths?: Map<number, string>;
  arg0namespace?: string;
  eavesdrop?: boolean;
}

/** A match rule that cannot be parsed; the broker answers MatchRuleInvalid with this message. */
export class MatchRuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MatchRuleError';
  }
}

const ELEMENT = '[A-Za-z_][A-Za-z0-9_]*';
const INTERFACE = new RegExp(`^${ELEMENT}(\\.${ELEMENT})+$`);
const MEMBER = new RegExp(`^${ELEMENT}$`);
const WELL_KNOWN = /^[A-Za-z_-][A-Za-z0-9_-]*(\.[A-Za-z_-][A-Za-z0-9_-]*)+$/;
const UNIQUE = /^:[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/;
const PATH = /^\/$|^(\/[A-Za-z0-9_]+)+$/;
const NAMESPACE = /^[A-Za-z_-][A-Za-z0-9_-]*(\.[A-Za-z_-][A-Za-z0-9_-]*)*$/;

function isBusName(s: string): boolean {
  return s.length <= 255 && (UNIQUE.test(s) || WELL_KNOWN.test(s));
}

/** Splits the rule text into [key, value] pairs. */
function tokenize(text: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && /\s/.test(text[i])) i++;
    if (i >= n) break;
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new MatchRuleError(`'${text.slice(i)}' is not key='value'`);
    const key = text.slice(i, eq).trim();
    if (key === '') throw new MatchRuleError('empty key');
    i = eq + 1;
    let value = '';
    let quoted = false;
    while (i < n) {
      const c = text[i];
      if (quoted) {
        if (c === "'") quoted = false;
        else value += c;
        i++;
      } else if (c === "'") {
        quoted = true;
        i++;
      } else if (c === '\\' && text[i + 1] === "'") {
        value += "'";
        i += 2;
      } else if (c === ',') {
        break;
      } else {
        value += c;
        i++;
      }
    }
    if (quoted) throw new MatchRuleError(`unterminated quote in the value of '${key}'`);
    if (i < n && text[i] === ',') i++;
    pairs.push([key, value]);
  }
  return pairs;
}

/** Parses a match rule; throws MatchRuleError with a message fit for MatchRuleInvalid. */
export function parseMatchRule(text: string): MatchRule {
  if (Buffer.byteLength(text, 'utf8') > MAX_MATCH_RULE_LENGTH) {
    throw new MatchRuleError(`match rule longer than ${MAX_MATCH_RULE_LENGTH} bytes`);
  }
  const rule: MatchRule = {};
  const seen = new Set<string>();
  for (const [key, value] of tokenize(text)) {
    if (seen.has(key)) throw new MatchRuleError(`key '${key}' appears twice`);
    seen.add(key);
    switch (key) {
      case 'type':
        if (!(value in MATCH_TYPES)) throw new MatchRuleError(`unknown message type '${value}'`);
        rule.type = MATCH_TYPES[value];
        break;
      case 'sender':
        if (!isBusName(value) && value !== 'org.freedesktop.DBus') throw new MatchRuleError(`sender '${value}' is not a valid bus name`);
        rule.sender = value;
        break;
      case 'interface':
        if (!INTERFACE.test(value) || value.length > 255) throw new MatchRuleError(`interface '${value}' is not a valid interface name`);
        rule.interface = value;
        break;
      case 'member':
        if (!MEMBER.test(value) || value.length > 255) throw new MatchRuleError(`member '${value}' is not a valid member name`);
        rule.member = value;
        break;
      case 'path':
      case 'path_namespace':
        if (!PATH.test(value)) throw new MatchRuleError(`${key} '${value}' is not a valid object path`);
        if (key === 'path') rule.path = value;
        else rule.pathNamespace = value;
        break;
      case 'destination':
        if (!isBusName(value)) throw new MatchRuleError(`destination '${value}' is not a valid bus name`);
        rule.destination = value;
        break;
      case 'eavesdrop':
        if (value !== 'true' && value !== 'false') throw new MatchRuleError(`eavesdrop must be 'true' or 'false', not '${value}'`);
        rule.eavesdrop = value === 'true';
        break;
      case 'arg0namespace':
        if (!NAMESPACE.test(value) || value.length > 255) throw new MatchRuleError(`arg0namespace '${value}' is not a valid namespace`);
        rule.arg0namespace = value;
        break;
      default: {
        const m = /^arg(\d{1,2})(path)?$/.exec(key);
        if (!m || Number(m[1]) > MAX_MATCH_ARG || (m[1].length === 2 && m[1][0] === '0')) {
          throw new MatchRuleError(`unknown key '${key}'`);
        }
        const index = Number(m[1]);
        if (m[2]) {
          rule.argPaths ??= new Map();
          rule.argPaths.set(index, value);
        } else {
          rule.args ??= new Map();
          rule.args.set(index, value);
        }
      }
    }
  }
  if (rule.path !== undefined && rule.pathNamespace !== undefined) {
    throw new MatchRuleError('path and path_namespace cannot both be given');
  }
  if (rule.arg0namespace !== undefined && (rule.args?.has(0) || rule.argPaths?.has(0))) {
    throw new MatchRuleError('arg0namespace cannot be combined with arg0 or arg0path');
  }
  for (const i of rule.args?.keys() ?? []) {
    if (rule.argPaths?.has(i)) throw new MatchRuleError(`arg${i} and arg${i}path cannot both be given`);
  }
  return rule;
}

function quote(value: string): string {
  return `'${value.replace(/'/g, "'\\''")}'`;
}

/** Formats a rule in canonical key order; parseMatchRule(formatMatchRule(r)) equals r. */
export function formatMatchRule(rule: MatchRule): string {
  const parts: string[] = [];
  if (rule.type !== undefined) parts.push(`type=${quote(Object.keys(MATCH_TYPES).find((k) => MATCH_TYPES[k] === rule.type)!)}`);
  if (rule.sender !== undefined) parts.push(`sender=${quote(rule.sender)}`);
  if (rule.interface !== undefined) parts.push(`interface=${quote(rule.interface)}`);
  if (rule.member !== undefined) parts.push(`member=${quote(rule.member)}`);
  if (rule.path !== undefined) parts.push(`path=${quote(rule.path)}`);
  if (rule.pathNamespace !== undefined) parts.push(`path_namespace=${quote(rule.pathNamespace)}`);
  if (rule.destination !== undefined) parts.push(`destination=${quote(rule.destination)}`);
  const argKeys = new Set([...(rule.args?.keys() ?? []), ...(rule.argPaths?.keys() ?? [])]);
  for (const i of [...argKeys].sort((a, b) => a - b)) {
    if (rule.args?.has(i)) parts.push(`arg${i}=${quote(rule.args.get(i)!)}`);
    else parts.push(`arg${i}path=${quote(rule.argPaths!.get(i)!)}`);
  }
  if (rule.arg0namespace !== undefined) parts.push(`arg0namespace=${quote(rule.arg0namespace)}`);
  if (rule.eavesdrop !== undefined) parts.push(`eavesdrop=${quote(String(rule.eavesdrop))}`);
  return parts.join(',');
}

/** What a rule looks at in a message: header fields, and body arguments on demand. */
export interface MatchableMessage {
  type: number;
  sender?: string;
  interface?: string;
  member?: string;
  path?: string;
  destination?: string;
  /** The unique name of the connection the message goes to; undefined when it goes to the bus itself or to nobody yet. */
  recipient?: string;
  /**
   * Top-level argument `index` when it is a string ('s') or object path
   * ('o'), else undefined. Called only for rules with arg keys, so a
   * message's body is decoded only when some rule needs it.
   */
  arg(index: number): { value: string; isPath: boolean } | undefined;
}

/** Whether `name` (a well-known name in a rule) is owned by `uniqueName`; supplied by the bus. */
export type OwnerCheck = (name: string, uniqueName: string) => boolean;

function pathMatches(arg: string, value: string): boolean {
  if (arg === value) return true;
  if (value.endsWith('/') && arg.startsWith(value)) return true;
  return arg.endsWith('/') && value.startsWith(arg);
}

/**
 * `destination=` matches when the message's recipient is `name` or its primary
 * owner, whichever of its names the sender wrote (as dbus-daemon); with no
 * known recipient (the bus itself, or nobody yet), when DESTINATION is `name`.
 */
function destinationMatches(name: string, m: MatchableMessage, ownerOf?: OwnerCheck): boolean {
  if (m.destination === undefined) return false;
  const to = m.recipient;
  if (to === undefined) return name === m.destination;
  if (name === to) return true;
  return !name.startsWith(':') && ownerOf?.(name, to) === true;
}

/** Tests everything in the rule except eavesdrop/destination policy, which the bus applies. */
export function matchesRule(rule: MatchRule, m: MatchableMessage, ownerOf?: OwnerCheck): boolean {
  if (rule.type !== undefined && rule.type !== m.type) return false;
  if (rule.member !== undefined && rule.member !== m.member) return false;
  if (rule.interface !== undefined && rule.interface !== m.interface) return false;
  if (rule.path !== undefined && rule.path !== m.path) return false;
  if (rule.pathNamespace !== undefined) {
    const p = m.path;
    if (p === undefined) return false;
    const ns = rule.pathNamespace;
    if (!(ns === '/' || p === ns || p.startsWith(ns + '/'))) return false;
  }
  if (rule.destination !== undefined && !destinationMatches(rule.destination, m, ownerOf)) return false;
  if (rule.sender !== undefined && rule.sender !== m.sender) {
    if (rule.sender.startsWith(':') || m.sender === undefined || !ownerOf?.(rule.sender, m.sender)) return false;
  }
  if (rule.args) {
    for (const [i, v] of rule.args) {
      const a = m.arg(i);
      if (!a || a.isPath || a.value !== v) return false;
    }
  }
  if (rule.argPaths) {
    for (const [i, v] of rule.argPaths) {
      const a = m.arg(i);
      if (!a || !pathMatches(a.value, v)) return false;
    }
  }
  if (rule.arg0namespace !== undefined) {
    const a = m.arg(0);
    if (!a || a.isPath) return false;
    const ns = rule.arg0namespace;
    if (!(a.value === ns || a.value.startsWith(ns + '.'))) return false;
  }
  return true;
}
