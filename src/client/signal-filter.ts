// Which signals a subscription wants, as the fields of a match rule
// (D-Bus specification, "Match Rules"): formatted into the rule the bus
// installs, and checked again locally on each signal that arrives, since one
// connection receives the union of all its rules.
import type { Message } from '../wire/index.js';

/** The fields of a signal match rule; every field given must match. */
export interface SignalFilter {
  /** A unique or well-known name; a well-known name follows its current owner. */
  sender?: string;
  path?: string;
  /** The path or anything below it, by whole elements. */
  pathNamespace?: string;
  interface?: string;
  member?: string;
  /** String arguments by index (arg0='x'). */
  args?: Record<number, string>;
}

function quote(value: string): string {
  // Inside quotes a backslash is ordinary; an apostrophe must leave the quotes as \'.
  return `'${value.replace(/'/g, "'\\''")}'`;
}

/** Formats the match rule that asks the bus for the signals `filter` describes. */
export function formatSignalRule(filter: SignalFilter): string {
  const parts = ["type='signal'"];
  if (filter.sender !== undefined) parts.push(`sender=${quote(filter.sender)}`);
  if (filter.interface !== undefined) parts.push(`interface=${quote(filter.interface)}`);
  if (filter.member !== undefined) parts.push(`member=${quote(filter.member)}`);
  if (filter.path !== undefined) parts.push(`path=${quote(filter.path)}`);
  if (filter.pathNamespace !== undefined) parts.push(`path_namespace=${quote(filter.pathNamespace)}`);
  if (filter.args) {
    for (const [n, v] of Object.entries(filter.args)) parts.push(`arg${n}=${quote(v)}`);
  }
  return parts.join(',');
}

/**
 * Whether a received signal matches `filter`. `senderOwner` is the current
 * owner of a well-known `sender` (undefined when it has none or is unknown).
 */
export function signalMatches(filter: SignalFilter, msg: Message, senderOwner: string | undefined): boolean {
  if (filter.interface !== undefined && msg.interface !== filter.interface) return false;
  if (filter.member !== undefined && msg.member !== filter.member) return false;
  if (filter.path !== undefined && msg.path !== filter.path) return false;
  if (filter.pathNamespace !== undefined) {
    const ns = filter.pathNamespace;
    const p = msg.path ?? '';
    if (!(ns === '/' || p === ns || (p.startsWith(ns) && p.charCodeAt(ns.length) === 0x2f))) return false;
  }
  if (filter.sender !== undefined && msg.sender !== filter.sender) {
    if (filter.sender.startsWith(':') || senderOwner === undefined || msg.sender !== senderOwner) return false;
  }
  if (filter.args) {
    for (const [n, v] of Object.entries(filter.args)) if (msg.body[Number(n)] !== v) return false;
  }
  return true;
}
