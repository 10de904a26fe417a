// Signal subscriptions of a client connection: match rules counted per rule
// (AddMatch for the first holder, RemoveMatch after the last), handlers keyed
// by interface.member, well-known senders followed through NameOwnerChanged,
// and bounded async iterators that end when the connection closes.
import { AbortError, DisconnectedError } from './errors.js';
import { BoundedIterator } from './signal-iterator.js';
import { formatSignalRule, matchable, signalRule, type SignalFilter } from './signal-filter.js';
import { matchesRule, type MatchableMessage, type MatchRule } from '../match/index.js';
import type { Message } from '../wire/index.js';

const DBUS = 'org.freedesktop.DBus';

/** A handle on a signal subscription. */
export interface SignalSubscription {
  /** The match rule the bus holds for it. */
  readonly rule: string;
  /** Stops delivery; the last subscriber of a rule sends RemoveMatch. Idempotent. */
  close(): Promise<void>;
}

/** A bounded async iterator of signals; `dropped` counts what a full queue lost. */
export type SignalIterator = BoundedIterator<Message>;

/** What the subscriptions need of their connection. */
export interface SubscriptionHost {
  busCall(member: string, signature: string, body: unknown[]): Promise<unknown[]>;
  getNameOwner(name: string): Promise<string | undefined>;
  closed(): boolean;
  /** The set of rules changed (called before the AddMatch it needs can return). */
  rulesChanged(): void;
}

interface Subscription {
  filter: MatchRule;
  rule: string;
  handler: (msg: Message) => void;
}

interface RuleEntry {
  count: number;
  /** Resolves once AddMatch was answered; rejects when the bus refused it. */
  installed: Promise<void>;
}

interface OwnerEntry {
  owner: string | undefined;
  refs: number;
  ready: Promise<void>;
  unsubscribe: (() => void) | undefined;
}

/** The signal subscriptions and match rules of one connection. */
export class SignalSubscriptions {
  /** Subscriptions that name an interface and a member, by interface, then member. */
  private readonly subscriptions = new Map<string, Map<string, Set<Subscription>>>();
  private readonly wildcardSubscriptions = new Set<Subscription>();
  private readonly rules = new Map<string, RuleEntry>();
  private readonly owners = new Map<string, OwnerEntry>();
  private readonly iterators = new Set<SignalIterator>();

  constructor(private readonly host: SubscriptionHost) {}

  /** Adds a match rule, counted: the bus gets AddMatch only for the first holder. */
  addMatch(rule: string): Promise<void> {
    const e = this.rules.get(rule);
    if (e) {
      e.count++;
      return e.installed;
    }
    const installed = this.host.busCall('AddMatch', 's', [rule]).then(() => undefined);
    const entry: RuleEntry = { count: 1, installed };
    this.rules.set(rule, entry);
    this.host.rulesChanged();
    installed.catch(() => {
      if (this.rules.get(rule) !== entry) return;
      this.rules.delete(rule);
      this.host.rulesChanged();
    });
    return installed;
  }

  /** Drops one holder of a match rule; the last one sends RemoveMatch. */
  async removeMatch(rule: string): Promise<void> {
    const e = this.rules.get(rule);
    if (!e) return;
    if (--e.count > 0) return;
    this.rules.delete(rule);
    this.host.rulesChanged();
    if (this.host.closed()) return;
    await e.installed.catch(() => undefined);
    // A RemoveMatch for a rule re-added meanwhile would remove the new one's copy: the bus counts too, so it is still balanced.
    await this.host.busCall('RemoveMatch', 's', [rule]).catch((error: unknown) => {
      if (!(error instanceof DisconnectedError)) throw error;
    });
  }

  /** The rules, once each. */
  ruleTexts(): string[] {
    return [...this.rules.keys()];
  }

  /** The match rules this connection holds, with their counts (for tests and diagnostics). */
  get matchRules(): ReadonlyMap<string, number> {
    return new Map([...this.rules].map(([r, e]) => [r, e.count]));
  }

  /**
   * Subscribes to signals; resolves once the bus has installed the match rule
   * (and, for a well-known sender, once its owner is known).
   */
  async subscribe(filter: SignalFilter, handler: (message: Message) => void): Promise<SignalSubscription> {
    const parsed = signalRule(filter);
    const rule = formatSignalRule(filter);
    const sub: Subscription = { filter: parsed, rule, handler };
    const sender = filter.sender;
    const followsOwner = sender !== undefined && !sender.startsWith(':') && sender !== DBUS;
    const iface = filter.interface;
    const member = filter.member;
    const keyed = iface !== undefined && member !== undefined;
    const unregister = (): void => {
      if (keyed) {
        const members = this.subscriptions.get(iface);
        const set = members?.get(member);
        set?.delete(sub);
        if (set?.size === 0) members!.delete(member);
        if (members?.size === 0) this.subscriptions.delete(iface);
      } else this.wildcardSubscriptions.delete(sub);
    };
    // Listening starts before AddMatch is sent: a matching signal may follow
    // the AddMatch reply in the same read, before this function resumes.
    if (keyed) {
      let members = this.subscriptions.get(iface);
      if (!members) this.subscriptions.set(iface, (members = new Map()));
      let set = members.get(member);
      if (!set) members.set(member, (set = new Set()));
      set.add(sub);
    } else this.wildcardSubscriptions.add(sub);
    try {
      if (followsOwner) await this.watchOwner(sender);
    } catch (e) {
      unregister();
      throw e;
    }
    try {
      await this.addMatch(rule);
    } catch (e) {
      unregister();
      if (followsOwner) this.unwatchOwner(sender);
      throw e;
    }
    let closed = false;
    return {
      rule,
      close: async () => {
        if (closed) return;
        closed = true;
        unregister();
        if (followsOwner) this.unwatchOwner(sender);
        await this.removeMatch(rule);
      },
    };
  }

  /**
   * Signals as a bounded async iterator (default capacity 1024; when full the
   * oldest is dropped and `dropped` counts it). Resolves once the match rule is
   * installed. Ends when the connection closes, the AbortSignal fires, or the
   * loop exits (break), which releases the match rule.
   */
  async signals(filter: SignalFilter, options: { capacity?: number; signal?: AbortSignal } = {}): Promise<SignalIterator> {
    let sub: SignalSubscription | undefined;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.iterators.delete(it);
      options.signal?.removeEventListener('abort', onAbort);
      void sub?.close().catch(() => undefined);
    };
    const it = new BoundedIterator<Message>(options.capacity ?? 1024, release);
    const onAbort = (): void => {
      it.end(new AbortError('signal iterator', { cause: options.signal?.reason }));
      release();
    };
    if (options.signal?.aborted) throw new AbortError('signal iterator', { cause: options.signal.reason });
    sub = await this.subscribe(filter, (m) => it.push(m));
    if (released) void sub.close();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    this.iterators.add(it);
    return it;
  }

  /** Tracks owners from NameOwnerChanged and delivers a signal to the subscriptions it matches. */
  dispatch(msg: Message): void {
    if (msg.member === 'NameOwnerChanged' && msg.sender === DBUS && msg.interface === DBUS) {
      const [name, , newOwner] = msg.body as [string, string, string];
      const e = this.owners.get(name);
      if (e) e.owner = newOwner === '' ? undefined : newOwner;
    }
    // Two lookups with the decoded names (interned: their hashes are kept), rather than one with a key made per signal.
    const iface = msg.interface;
    const member = msg.member;
    const set = iface === undefined || member === undefined ? undefined : this.subscriptions.get(iface)?.get(member);
    if (set === undefined && this.wildcardSubscriptions.size === 0) return;
    const m = matchable(msg);
    if (set) for (const sub of set) this.deliver(sub, msg, m);
    for (const sub of this.wildcardSubscriptions) this.deliver(sub, msg, m);
  }

  /** sender='well.known' matches a signal from its current owner, as NameOwnerChanged told. */
  private readonly ownerCheck = (name: string, unique: string): boolean => this.owners.get(name)?.owner === unique;

  private deliver(sub: Subscription, msg: Message, m: MatchableMessage): void {
    if (!matchesRule(sub.filter, m, this.ownerCheck)) return;
    try {
      sub.handler(msg);
    } catch (e) {
      // A throwing listener must not break dispatch for the others.
      queueMicrotask(() => {
        throw e;
      });
    }
  }

  private async watchOwner(name: string): Promise<void> {
    const e = this.owners.get(name);
    if (e) {
      e.refs++;
      return e.ready;
    }
    const entry: OwnerEntry = { owner: undefined, refs: 1, ready: Promise.resolve(), unsubscribe: undefined };
    this.owners.set(name, entry);
    const rule = formatSignalRule({ sender: DBUS, interface: DBUS, member: 'NameOwnerChanged', args: { 0: name } });
    entry.ready = (async () => {
      await this.addMatch(rule);
      entry.unsubscribe = () => void this.removeMatch(rule).catch(() => undefined);
      // Asked after the rule is in place, so that no change is missed in between.
      const owner = await this.host.getNameOwner(name);
      if (entry.owner === undefined) entry.owner = owner;
    })();
    entry.ready.catch(() => {
      if (this.owners.get(name) === entry) this.owners.delete(name);
    });
    return entry.ready;
  }

  private unwatchOwner(name: string): void {
    const e = this.owners.get(name);
    if (!e || --e.refs > 0) return;
    this.owners.delete(name);
    e.unsubscribe?.();
  }

  /** Ends every iterator (the connection closed). */
  endIterators(error: Error | undefined, why: string): void {
    for (const it of this.iterators) it.end(error ? new DisconnectedError(why, { cause: error }) : undefined);
    this.iterators.clear();
  }
}
