// The part of `<policy>` the bus enforces: who may own which names (own,
// own_prefix), evaluated like dbus-daemon: default blocks, then group
// blocks, then user blocks, then mandatory ones; the last matching rule wins;
// no matching rule denies. send_*/receive_* rules are read but not enforced
// (the bus says so at start when a config has any that deny).
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

  /** Whether any rule denies sending or receiving (which this bus does not enforce). */
  hasUnenforcedDenies(): boolean {
    return this.blocks.some((b) => b.rules.some((r) => !r.allow && Object.keys(r.attributes).some((k) => k.startsWith('send_') || k.startsWith('receive_'))));
  }
}
