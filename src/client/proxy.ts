// Proxies: a remote object seen through its introspection data. Each
// interface gets its methods as functions (signatures from introspection),
// property get/set/getAll/watch, and its signals as subscriptions or bounded
// async iterators. One out-arg resolves to the value, several to an array.
import { Variant, type Message } from '../wire/index.js';
import { ReplyPick, type CallOptions, type Connection, type SignalIterator, type SignalSubscription } from './connection.js';
import { methodSignatures, type InterfaceInfo, type NodeInfo } from './introspection.js';

const PROPERTIES = 'org.freedesktop.DBus.Properties';

/** A remote object: its interfaces and child node names. */
export class ProxyObject {
  readonly interfaces: ReadonlyMap<string, InterfaceInfo>;
  /** Names of child nodes (relative). */
  readonly nodes: readonly string[];

  constructor(
    readonly connection: Connection,
    readonly destination: string,
    readonly path: string,
    readonly node: NodeInfo,
  ) {
    this.interfaces = new Map(node.interfaces.map((i) => [i.name, i]));
    this.nodes = node.nodes.map((n) => n.name ?? '').filter((n) => n !== '');
  }

  /**
   * A proxy for one interface of the object; `T` types its methods (see
   * `fastbus codegen`). Throws if the object does not have the interface.
   */
  getInterface<T = Record<string, (...args: any[]) => Promise<any>>>(name: string): ProxyInterface & T {
    const info = this.interfaces.get(name);
    if (!info) throw new Error(`${this.destination} ${this.path} has no interface '${name}' (it has: ${[...this.interfaces.keys()].join(', ') || 'none'})`);
    return new ProxyInterface(this.connection, this.destination, this.path, info) as ProxyInterface & T;
  }
}

/** A method as a proxy calls it: its in-signature, in-arg count, and what its reply resolves to. */
interface MethodEntry {
  in: string;
  inCount: number;
  pick: ReplyPick;
}

/** One interface of a remote object. */
export class ProxyInterface {

  private readonly methodTable = new Map<string, MethodEntry>();

  constructor(
    readonly connection: Connection,
    readonly destination: string,
    readonly path: string,
    readonly info: InterfaceInfo,
  ) {
    for (const m of info.methods) {
      const sig = methodSignatures(m);
      const inCount = m.args.filter((a) => a.direction !== 'out').length;
      const outCount = m.args.length - inCount;
      const entry: MethodEntry = { in: sig.in, inCount, pick: outCount === 0 ? ReplyPick.NOTHING : outCount === 1 ? ReplyPick.FIRST : ReplyPick.BODY };
      this.methodTable.set(m.name, entry);
      if (m.name in this) continue; // a method named like a proxy member stays reachable through call()
      // Bound to its entry: no lookup by name, and the arguments are gathered once.
      Object.defineProperty(this, m.name, { value: (...args: unknown[]) => this.callEntry(m.name, entry, args), enumerable: true });
    }
  }

  /**
   * Calls a method by name with its in-args; one extra trailing argument is
   * taken as CallOptions (`{ timeoutMs, signal, fds }`).
   */
  call(member: string, ...args: unknown[]): Promise<any> {
    const m = this.methodTable.get(member);
    if (!m) return Promise.reject(new Error(`interface '${this.info.name}' has no method '${member}'`));
    return this.callEntry(member, m, args);
  }

  private callEntry(member: string, m: MethodEntry, args: unknown[]): Promise<any> {
    let options: CallOptions | undefined;
    if (args.length === m.inCount + 1) options = args.pop() as CallOptions;
    if (args.length !== m.inCount) return Promise.reject(new TypeError(`${this.info.name}.${member} takes ${m.inCount} argument(s) ('${m.in}'), got ${args.length}`));
    // The reply's values are picked as it settles: no await (and no turn) of its own here.
    return this.connection.callPicking(
      { destination: this.destination, path: this.path, interface: this.info.name, member, signature: m.in, body: args },
      options,
      m.pick,
    );
  }

  /** Reads a property (the variant unwrapped). */
  async get(name: string, options?: CallOptions): Promise<any> {
    const [v] = await this.connection.callMethod(
      { destination: this.destination, path: this.path, interface: PROPERTIES, member: 'Get', signature: 'ss', body: [this.info.name, name] },
      options,
    );
    return (v as Variant).value;
  }

  /** Writes a property with the type introspection declares. */
  async set(name: string, value: unknown, options?: CallOptions): Promise<void> {
    const p = this.info.properties.find((x) => x.name === name);
    if (!p) throw new Error(`interface '${this.info.name}' has no property '${name}'`);
    await this.connection.callMethod(
      { destination: this.destination, path: this.path, interface: PROPERTIES, member: 'Set', signature: 'ssv', body: [this.info.name, name, new Variant(p.type, value)] },
      options,
    );
  }

  /** Reads all properties (variants unwrapped). */
  async getAll(options?: CallOptions): Promise<Record<string, any>> {
    const [all] = await this.connection.callMethod(
      { destination: this.destination, path: this.path, interface: PROPERTIES, member: 'GetAll', signature: 's', body: [this.info.name] },
      options,
    );
    const out: Record<string, unknown> = {};
    const entries = all instanceof Map ? [...all] : Object.entries(all as Record<string, Variant>);
    for (const [k, v] of entries) out[k as string] = (v as Variant).value;
    return out;
  }

  /** Calls `handler(...args)` for each `signal` this object emits; resolves once the match rule is installed. */
  on(signal: string, handler: (...args: any[]) => void): Promise<SignalSubscription> {
    return this.connection.subscribe(
      { sender: this.destination, path: this.path, interface: this.info.name, member: signal },
      (m) => handler(...m.body),
    );
  }

  /** The object's `signal`s as a bounded async iterator of messages. */
  signals(signal: string, options?: { capacity?: number; signal?: AbortSignal }): Promise<SignalIterator> {
    return this.connection.signals({ sender: this.destination, path: this.path, interface: this.info.name, member: signal }, options);
  }

  /**
   * Calls `handler(value)` whenever PropertiesChanged reports `name` (an
   * invalidated property is read again). Resolves once the rule is installed.
   */
  watchProperty(name: string, handler: (value: any) => void): Promise<SignalSubscription> {
    return this.connection.subscribe(
      { sender: this.destination, path: this.path, interface: PROPERTIES, member: 'PropertiesChanged', args: { 0: this.info.name } },
      (m: Message) => {
        const [, changed, invalidated] = m.body as [string, Record<string, Variant> | Map<string, Variant>, string[]];
        const v = changed instanceof Map ? changed.get(name) : changed[name];
        if (v !== undefined) handler(v.value);
        else if (invalidated.includes(name)) this.get(name).then(handler, () => undefined);
      },
    );
  }
}
