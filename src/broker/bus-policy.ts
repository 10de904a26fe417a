// `<policy>` rules, evaluated like dbus-daemon: default blocks, then group
// blocks, then user blocks, then mandatory ones; the last matching rule wins.
// Ownership (own, own_prefix): no matching rule denies. Messages: a message
// passes the sender's send_* rules and the receiver's receive_* rules; with
// no matching rule it passes, and a deny rule only covers a requested reply
// when it says send_requested_reply/receive_requested_reply="true".
import { readFileSync } from 'node:fs';
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

/** Name-ownership policy from `<policy>` blocks. */
export class BusPolicy {
  constructor(private readonly blocks: PolicyBlock[]) {}

  /** Rules that apply to `uid`, in evaluation order. */
  private rulesFor(uid: number | undefined): PolicyRule[] {
    const applies = (b: PolicyBlock): boolean => {
      if (b.unsupported) return false;
      if (b.user !== undefined) return b.user === '*' || (uid !== undefined && idOf('/etc/passwd', b.user) === uid);
      if (b.group !== undefined) return b.group === '*' || (uid !== undefined && groupsOf(uid).includes(idOf('/etc/group', b.group) ?? -1));
      return false;
    };
    const order = [
      ...this.blocks.filter((b) => b.context === 'default'),
      ...this.blocks.filter((b) => b.group !== undefined && applies(b)),
      ...this.blocks.filter((b) => b.user !== undefined && applies(b)),
      ...this.blocks.filter((b) => b.context === 'mandatory'),
    ];
    return order.flatMap((b) => b.rules);
  }

  /** Whether a connection of `uid` may own `name`. */
  canOwn(uid: number | undefined, name: string): boolean {
    let allowed = false;
    for (const r of this.rulesFor(uid)) {
      const own = r.attributes.own;
      const prefix = r.attributes.own_prefix;
      if (own !== undefined && (own === '*' || own === name)) allowed = r.allow;
      else if (prefix !== undefined && (name === prefix || name.startsWith(prefix + '.'))) allowed = r.allow;
    }
    return allowed;
  }

  /** Whether any rule denies sending or receiving (else message checks are skipped). */
  hasMessageDenies(): boolean {
    return this.blocks.some((b) => b.rules.some((r) => !r.allow && Object.keys(r.attributes).some((k) => k.startsWith('send_') || k.startsWith('receive_'))));
  }

  private cache = new Map<number | undefined, PolicyRule[]>();

  private cachedRules(uid: number | undefined): PolicyRule[] {
    let rules = this.cache.get(uid);
    if (!rules) this.cache.set(uid, (rules = this.rulesFor(uid)));
    return rules;
  }

  /**
   * Whether a message may pass: `direction` picks send_* (checked for the
   * sender's uid, `peerNames` = names of the receiver) or receive_* (the
   * receiver's uid, `peerNames` = names of the sender).
   */
  checkMessage(direction: 'send' | 'receive', uid: number | undefined, m: PolicyMessage, peerNames: readonly string[]): boolean {
    let allowed = true;
    const p = direction === 'send' ? 'send_' : 'receive_';
    for (const r of this.cachedRules(uid)) {
      const a = r.attributes;
      let relevant = false;
      let matches = true;
      for (const key in a) {
        if (!key.startsWith(p)) continue;
        relevant = true;
        const want = a[key];
        const k = key.slice(p.length);
        let ok: boolean;
        switch (k) {
          case 'type': ok = want === '*' || TYPE_NAMES[m.type] === want; break;
          case 'interface': ok = want === '*' || m.interface === want; break;
          case 'member': ok = want === '*' || m.member === want; break;
          case 'error': ok = want === '*' || m.errorName === want; break;
          case 'path': ok = want === '*' || m.path === want; break;
          case 'destination': case 'sender': ok = want === '*' || peerNames.includes(want); break;
          case 'destination_prefix': ok = peerNames.some((n) => n === want || n.startsWith(want + '.')); break;
          case 'broadcast': ok = (want === 'true') === (m.destination === undefined); break;
          case 'requested_reply': ok = (want === 'true') === m.requestedReply; break;
          default: ok = false;
        }
        if (!ok) {
          matches = false;
          break;
        }
      }
      if (!relevant || !matches) continue;
      // A deny only covers a requested reply when the rule says so.
      if (!r.allow && m.requestedReply && a[`${p}requested_reply`] !== 'true') continue;
      allowed = r.allow;
    }
    return allowed;
  }
}

/** What message rules look at. */
export interface PolicyMessage {
  type: number;
  interface?: string;
  member?: string;
  errorName?: string;
  path?: string;
  destination?: string;
  /** A reply (return or error) to a call that is pending. */
  requestedReply: boolean;
}

const TYPE_NAMES: Record<number, string> = { 1: 'method_call', 2: 'method_return', 3: 'error', 4: 'signal' };
