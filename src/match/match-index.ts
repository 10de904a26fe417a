// An index of match rules for fan-out: each rule sits in one bucket keyed by
// its most selective header key (member, else interface, else path, else
// sender), so a message looks at the rules that could match it, not at every
// rule on the bus. Identical rules of one owner are counted, not repeated.
import { matchesRule, type MatchableMessage, type MatchRule, type OwnerCheck } from './match-rule.js';

/** One owner's rule in the index, with how many times the owner added it. */
export interface MatchEntry<T> {
  readonly owner: T;
  readonly rule: MatchRule;
  readonly text: string;
  count: number;
}

type Bucket<T> = Map<string, Set<MatchEntry<T>>>;

/** Rules of many owners (connections), found by the messages they could match. */
export class MatchIndex<T> {
  private readonly byMember: Bucket<T> = new Map();
  private readonly byInterface: Bucket<T> = new Map();
  private readonly byPath: Bucket<T> = new Map();
  private readonly bySender: Bucket<T> = new Map();
  private readonly rest = new Set<MatchEntry<T>>();
  private readonly byOwner = new Map<T, Map<string, MatchEntry<T>>>();
  private total = 0;

  /** Number of distinct (owner, rule) entries. */
  get size(): number {
    return this.total;
  }

  private bucketOf(rule: MatchRule): [Bucket<T> | null, string] {
    if (rule.member !== undefined) return [this.byMember, rule.member];
    if (rule.interface !== undefined) return [this.byInterface, rule.interface];
    if (rule.path !== undefined) return [this.byPath, rule.path];
    if (rule.sender !== undefined && rule.sender.startsWith(':')) return [this.bySender, rule.sender];
    return [null, ''];
  }

  /** Adds a rule for `owner` (text is its canonical form); returns the entry with its count. */
  add(owner: T, rule: MatchRule, text: string): MatchEntry<T> {
    let rules = this.byOwner.get(owner);
    if (!rules) this.byOwner.set(owner, (rules = new Map()));
    const existing = rules.get(text);
    if (existing) {
      existing.count++;
      return existing;
    }
    const entry: MatchEntry<T> = { owner, rule, text, count: 1 };
    rules.set(text, entry);
    const [bucket, key] = this.bucketOf(rule);
    if (bucket) {
      let set = bucket.get(key);
      if (!set) bucket.set(key, (set = new Set()));
      set.add(entry);
    } else {
      this.rest.add(entry);
    }
    this.total++;
    return entry;
  }

  /** Removes one count of the rule; false when the owner has no such rule. */
  remove(owner: T, text: string): boolean {
    const rules = this.byOwner.get(owner);
    const entry = rules?.get(text);
    if (!rules || !entry) return false;
    if (--entry.count > 0) return true;
    rules.delete(text);
    if (rules.size === 0) this.byOwner.delete(owner);
    this.unlink(entry);
    return true;
  }

  /** Removes every rule of an owner (on disconnect). */
  removeOwner(owner: T): void {
    const rules = this.byOwner.get(owner);
    if (!rules) return;
    for (const entry of rules.values()) this.unlink(entry);
    this.byOwner.delete(owner);
  }

  /** The owner's entries (for GetAllMatchRules and counting against limits). */
  rulesOf(owner: T): Iterable<MatchEntry<T>> {
    return this.byOwner.get(owner)?.values() ?? [];
  }

  /** Counts an owner's rules, repeated ones each time. */
  countOf(owner: T): number {
    let n = 0;
    for (const e of this.rulesOf(owner)) n += e.count;
    return n;
  }

  /** All owners with rules. */
  owners(): Iterable<T> {
    return this.byOwner.keys();
  }

  private unlink(entry: MatchEntry<T>): void {
    const [bucket, key] = this.bucketOf(entry.rule);
    if (bucket) {
      const set = bucket.get(key);
      set?.delete(entry);
      if (set && set.size === 0) bucket.delete(key);
    } else {
      this.rest.delete(entry);
    }
    this.total--;
  }

  /**
   * Calls `visit(entry)` for each rule matching `m`, looking only in the
   * buckets the message's header could hit. `accept` filters before the full
   * test (e.g. owners already chosen, or eavesdrop policy).
   */
  forEachMatch(m: MatchableMessage, visit: (entry: MatchEntry<T>) => void, ownerOf?: OwnerCheck, accept?: (entry: MatchEntry<T>) => boolean): void {
    const scan = (set: Set<MatchEntry<T>> | undefined): void => {
      if (!set) return;
      for (const e of set) if ((!accept || accept(e)) && matchesRule(e.rule, m, ownerOf)) visit(e);
    };
    if (m.member !== undefined) scan(this.byMember.get(m.member));
    if (m.interface !== undefined) scan(this.byInterface.get(m.interface));
    if (m.path !== undefined) scan(this.byPath.get(m.path));
    if (m.sender !== undefined) scan(this.bySender.get(m.sender));
    scan(this.rest);
  }
}
