// Exported objects and the dispatch of incoming method calls: the user's
// interfaces, plus the standard ones every object gets (Introspectable,
// Properties with PropertiesChanged, Peer) and ObjectManager where asked.
// Handler failures become error replies; nothing a caller sends can throw here.
import { readFileSync } from 'node:fs';
import { MessageFlags, MessageType, Variant, type Message } from '../wire/index.js';
import { isValidObjectPath } from '../names/index.js';
import type { Connection } from './connection.js';
import type { InterfaceDefinition, InterfaceSpec, Invocation, MemberSignature } from './define-interface.js';
import { DBusError, ErrorNames } from './errors.js';
import { formatIntrospection, type InterfaceInfo, type NodeInfo } from './introspection.js';

const PROPERTIES = 'org.freedesktop.DBus.Properties';
const INTROSPECTABLE = 'org.freedesktop.DBus.Introspectable';
const PEER = 'org.freedesktop.DBus.Peer';
const OBJECT_MANAGER = 'org.freedesktop.DBus.ObjectManager';

const STANDARD: InterfaceInfo[] = [
  {
    name: PEER, annotations: {}, signals: [], properties: [],
    methods: [
      { name: 'Ping', args: [], annotations: {} },
      { name: 'GetMachineId', args: [{ name: 'machine_uuid', type: 's', direction: 'out' }], annotations: {} },
    ],
  },
  {
    name: INTROSPECTABLE, annotations: {}, signals: [], properties: [],
    methods: [{ name: 'Introspect', args: [{ name: 'xml_data', type: 's', direction: 'out' }], annotations: {} }],
  },
  {
    name: PROPERTIES, annotations: {}, properties: [],
    methods: [
      { name: 'Get', args: [{ name: 'interface_name', type: 's', direction: 'in' }, { name: 'property_name', type: 's', direction: 'in' }, { name: 'value', type: 'v', direction: 'out' }], annotations: {} },
      { name: 'GetAll', args: [{ name: 'interface_name', type: 's', direction: 'in' }, { name: 'props', type: 'a{sv}', direction: 'out' }], annotations: {} },
      { name: 'Set', args: [{ name: 'interface_name', type: 's', direction: 'in' }, { name: 'property_name', type: 's', direction: 'in' }, { name: 'value', type: 'v', direction: 'in' }], annotations: {} },
    ],
    signals: [{ name: 'PropertiesChanged', args: [{ name: 'interface_name', type: 's' }, { name: 'changed_properties', type: 'a{sv}' }, { name: 'invalidated_properties', type: 'as' }], annotations: {} }],
  },
];

const OBJECT_MANAGER_INFO: InterfaceInfo = {
  name: OBJECT_MANAGER, annotations: {}, properties: [],
  methods: [{ name: 'GetManagedObjects', args: [{ name: 'objects', type: 'a{oa{sa{sv}}}', direction: 'out' }], annotations: {} }],
  signals: [
    { name: 'InterfacesAdded', args: [{ name: 'object_path', type: 'o' }, { name: 'interfaces_and_properties', type: 'a{sa{sv}}' }], annotations: {} },
    { name: 'InterfacesRemoved', args: [{ name: 'object_path', type: 'o' }, { name: 'interfaces', type: 'as' }], annotations: {} },
  ],
};

let machineId: string | undefined;
function readMachineId(): string {
  if (machineId === undefined) {
    for (const f of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
      try {
        machineId = readFileSync(f, 'utf8').trim();
        break;
      } catch {
        // try the next one
      }
    }
    if (machineId === undefined) throw new DBusError(ErrorNames.Failed, 'no machine id on this system');
  }
  return machineId;
}

interface Entry {
  definition: InterfaceDefinition;
  implementation: Record<string, unknown>;
}

/** A handle on one exported interface at one path. */
export interface ExportedInterface<S extends InterfaceSpec = InterfaceSpec> {
  readonly path: string;
  readonly definition: InterfaceDefinition<S>;
  /** Emits one of the interface's signals with its declared signature. */
  emit(signal: keyof NonNullable<S['signals']> & string, ...args: unknown[]): void;
  /** Emits PropertiesChanged for the named properties, with their current values. */
  propertiesChanged(names: (keyof NonNullable<S['properties']> & string)[], invalidated?: string[]): void;
  /** Removes the interface from the path. */
  unexport(): void;
}

type Reply = { signature: string; body: unknown[] };

function reply(signature: string, body: unknown[]): Reply {
  return { signature, body };
}

/** The reply to a method of `iface` that returned `v`. */
function replyOf(iface: string, member: string, m: MemberSignature, v: unknown): Reply {
  if (m.outCount === 0) return reply('', []);
  if (m.outCount === 1) return reply(m.out, [v]);
  if (!Array.isArray(v) || v.length !== m.outCount) {
    throw new DBusError(ErrorNames.Failed, `${iface}.${member} must return an array of ${m.outCount} values (signature '${m.out}')`);
  }
  return reply(m.out, v);
}

/** replyOf once `out` settles (a function of its own: a closure in invokeUser would cost every call a context). */
function replyLater(out: Promise<unknown>, iface: string, member: string, m: MemberSignature): Promise<Reply> {
  return out.then((v) => replyOf(iface, member, m, v));
}

/** The objects a connection exports, and the dispatcher for calls to them. */
export class ObjectTable {
  private readonly objects = new Map<string, Map<string, Entry>>();
  private readonly managers = new Set<string>();
  constructor(private readonly connection: Connection) {}

  add(path: string, definition: InterfaceDefinition, implementation: Record<string, unknown>): ExportedInterface {
    if (!isValidObjectPath(path)) throw new TypeError(`export: '${path}' is not a valid object path`);
    for (const name of definition.methods.keys()) {
      if (typeof implementation[name] !== 'function') throw new TypeError(`export ${definition.name} at ${path}: method '${name}' is not implemented`);
    }
    let ifaces = this.objects.get(path);
    if (!ifaces) this.objects.set(path, (ifaces = new Map()));
    if (ifaces.has(definition.name)) throw new Error(`export: ${definition.name} is already exported at ${path}`);
    const entry: Entry = { definition, implementation };
    ifaces.set(definition.name, entry);
    const manager = this.managerOf(path);
    if (manager !== undefined) {
      this.connection.emitSignal(manager, OBJECT_MANAGER, 'InterfacesAdded', 'oa{sa{sv}}', [path, { [definition.name]: this.getAll(entry) }]);
    }
    return {
      path,
      definition,
      emit: (signal, ...args) => {
        const sig = definition.signals.get(signal);
        if (sig === undefined) throw new TypeError(`${definition.name} has no signal '${signal}'`);
        this.connection.emitSignal(path, definition.name, signal, sig, args);
      },
      propertiesChanged: (names, invalidated = []) => {
        const changed: Record<string, Variant> = {};
        for (const n of names) changed[n] = this.getProperty(entry, n);
        this.connection.emitSignal(path, PROPERTIES, 'PropertiesChanged', 'sa{sv}as', [definition.name, changed, invalidated]);
      },
      unexport: () => {
        const now = this.objects.get(path);
        if (now?.get(definition.name) !== entry) return;
        now.delete(definition.name);
        if (now.size === 0) this.objects.delete(path);
        const m = this.managerOf(path);
        if (m !== undefined) this.connection.emitSignal(m, OBJECT_MANAGER, 'InterfacesRemoved', 'oas', [path, [definition.name]]);
      },
    };
  }

  addObjectManager(path: string): void {
    if (!isValidObjectPath(path)) throw new TypeError(`exportObjectManager: '${path}' is not a valid object path`);
    this.managers.add(path);
  }

  /** Answers a method call (unless it asked for no reply). */
  dispatch(msg: Message): void {
    const noReply = (msg.flags & MessageFlags.NO_REPLY_EXPECTED) !== 0;
    let result: Reply | Promise<Reply>;
    try {
      result = this.invoke(msg);
    } catch (e) {
      if (!noReply) this.sendError(msg, e);
      return;
    }
    if (result instanceof Promise) this.replyWhenSettled(msg, result, noReply);
    else if (!noReply) this.sendReply(msg, result);
  }

  // A function of its own: closures in dispatch() would cost every call a context.
  private replyWhenSettled(msg: Message, result: Promise<Reply>, noReply: boolean): void {
    result.then(
      (r) => {
        if (!noReply) this.sendReply(msg, r);
      },
      (e: unknown) => {
        if (!noReply) this.sendError(msg, e);
      },
    );
  }

  private sendReply(call: Message, r: Reply): void {
    if (this.connection.closed) return;
    // Every field in one literal, in the order send() and the encoder read them: one object shape for every reply.
    const m: Omit<Message, 'serial'> & { serial: number } = {
      type: MessageType.METHOD_RETURN, flags: 0, serial: 0, replySerial: call.serial, destination: call.sender, signature: r.signature || undefined, body: r.body,
    };
    try {
      this.connection.send(m);
    } catch (e) {
      // The implementation returned values that do not fit the declared signature.
      this.sendError(call, new DBusError(ErrorNames.Failed, `reply to ${call.interface ?? ''}.${call.member} does not match signature '${r.signature}': ${(e as Error).message}`));
    }
  }

  private sendError(call: Message, e: unknown): void {
    if (this.connection.closed) return;
    const name = e instanceof DBusError ? e.name : ErrorNames.Failed;
    const text = e instanceof Error ? e.message : String(e);
    const m: Omit<Message, 'serial'> = { type: MessageType.ERROR, flags: 0, replySerial: call.serial, errorName: name, signature: 's', body: [text] };
    if (call.sender !== undefined) m.destination = call.sender;
    this.connection.send(m);
  }

  private invoke(msg: Message): Reply | Promise<Reply> {
    const path = msg.path ?? '/';
    const member = msg.member ?? '';
    const iface = msg.interface;
    const sig = msg.signature ?? '';
    const ifaces = this.objects.get(path);
    if (ifaces && iface !== undefined) {
      const entry = ifaces.get(iface);
      if (entry) return this.invokeUser(entry, msg, member, sig);
    }
    if (iface === PEER || (iface === undefined && (member === 'Ping' || member === 'GetMachineId'))) {
      if (member === 'Ping') return reply('', []);
      if (member === 'GetMachineId') return reply('s', [readMachineId()]);
    }
    const known = ifaces !== undefined || this.managers.has(path) || this.hasChildren(path);
    if (!known) throw new DBusError(ErrorNames.UnknownObject, `no object at path '${path}'`);
    if ((iface === INTROSPECTABLE || iface === undefined) && member === 'Introspect') {
      return reply('s', [formatIntrospection(this.describe(path))]);
    }
    if (iface === PROPERTIES && ifaces) return this.invokeProperties(ifaces, member, sig, msg.body);
    if (iface === OBJECT_MANAGER && member === 'GetManagedObjects' && this.managers.has(path)) {
      return reply('a{oa{sa{sv}}}', [this.managedObjects(path)]);
    }
    if (iface === undefined && ifaces) {
      for (const entry of ifaces.values()) if (entry.definition.methods.has(member)) return this.invokeUser(entry, msg, member, sig);
    }
    if (iface !== undefined && !(ifaces?.has(iface)) && iface !== PROPERTIES && iface !== INTROSPECTABLE) {
      throw new DBusError(ErrorNames.UnknownInterface, `object '${path}' has no interface '${iface}'`);
    }
    throw new DBusError(ErrorNames.UnknownMethod, `no method '${member}'${iface ? ` in interface '${iface}'` : ''} at '${path}'`);
  }

  private invokeUser(entry: Entry, msg: Message, member: string, sig: string): Reply | Promise<Reply> {
    const d = entry.definition;
    const m = d.methods.get(member);
    if (!m) throw new DBusError(ErrorNames.UnknownMethod, `interface '${d.name}' has no method '${member}'`);
    if (sig !== m.in) throw new DBusError(ErrorNames.InvalidArgs, `${d.name}.${member} takes signature '${m.in}', got '${sig}'`);
    const fn = entry.implementation[member] as (...a: unknown[]) => unknown;
    const invocation: Invocation = { sender: msg.sender, destination: msg.destination, path: msg.path ?? '/', interface: d.name, member, fds: msg.fds };
    // The arguments are the body's values and the invocation: passed one by one for short bodies
    // (no array made), else the decoded body (ours) with the invocation pushed becomes the list.
    const body = msg.body;
    const impl = entry.implementation;
    let out: unknown;
    switch (body.length) {
      case 0: out = fn.call(impl, invocation); break;
      case 1: out = fn.call(impl, body[0], invocation); break;
      case 2: out = fn.call(impl, body[0], body[1], invocation); break;
      default:
        body.push(invocation);
        out = fn.apply(impl, body);
    }
    return out instanceof Promise ? replyLater(out, d.name, member, m) : replyOf(d.name, member, m, out);
  }

  private getProperty(entry: Entry, name: string): Variant {
    const p = entry.definition.properties.get(name);
    if (!p) throw new DBusError(ErrorNames.UnknownProperty, `interface '${entry.definition.name}' has no property '${name}'`);
    if (p.access === 'write') throw new DBusError(ErrorNames.AccessDenied, `property '${name}' of '${entry.definition.name}' is write-only`);
    return new Variant(p.type, entry.implementation[name]);
  }

  private getAll(entry: Entry): Record<string, Variant> {
    const all: Record<string, Variant> = {};
    for (const [name, p] of entry.definition.properties) if (p.access !== 'write') all[name] = this.getProperty(entry, name);
    return all;
  }

  private invokeProperties(ifaces: Map<string, Entry>, member: string, sig: string, body: unknown[]): Reply {
    const entryOf = (name: unknown): Entry => {
      const e = ifaces.get(name as string);
      if (!e) throw new DBusError(ErrorNames.UnknownInterface, `no interface '${String(name)}' here`);
      return e;
    };
    if (member === 'Get' && sig === 'ss') return reply('v', [this.getProperty(entryOf(body[0]), body[1] as string)]);
    if (member === 'GetAll' && sig === 's') return reply('a{sv}', [this.getAll(entryOf(body[0]))]);
    if (member === 'Set' && sig === 'ssv') {
      const entry = entryOf(body[0]);
      const name = body[1] as string;
      const value = body[2] as Variant;
      const p = entry.definition.properties.get(name);
      if (!p) throw new DBusError(ErrorNames.UnknownProperty, `interface '${entry.definition.name}' has no property '${name}'`);
      if (p.access === 'read') throw new DBusError(ErrorNames.PropertyReadOnly, `property '${name}' of '${entry.definition.name}' is read-only`);
      if (value.signature !== p.type) throw new DBusError(ErrorNames.InvalidArgs, `property '${name}' has type '${p.type}', got a value of type '${value.signature}'`);
      entry.implementation[name] = value.value;
      return reply('', []);
    }
    throw new DBusError(ErrorNames.UnknownMethod, `no method '${member}' with signature '${sig}' in ${PROPERTIES}`);
  }

  private hasChildren(path: string): boolean {
    const prefix = path === '/' ? '/' : `${path}/`;
    for (const p of this.objects.keys()) if (p.startsWith(prefix) && p !== path) return true;
    for (const p of this.managers) if (p.startsWith(prefix) && p !== path) return true;
    return false;
  }

  private describe(path: string): NodeInfo {
    const node: NodeInfo = { interfaces: [], nodes: [] };
    const ifaces = this.objects.get(path);
    if (ifaces) {
      node.interfaces.push(...STANDARD);
      for (const e of ifaces.values()) node.interfaces.push(e.definition.info);
    }
    if (this.managers.has(path)) {
      if (!ifaces) node.interfaces.push(STANDARD[0], STANDARD[1]);
      node.interfaces.push(OBJECT_MANAGER_INFO);
    }
    const prefix = path === '/' ? '/' : `${path}/`;
    const children = new Set<string>();
    for (const p of [...this.objects.keys(), ...this.managers]) {
      if (p.startsWith(prefix) && p !== path) children.add(p.slice(prefix.length).split('/')[0]);
    }
    for (const c of [...children].sort()) node.nodes.push({ name: c, interfaces: [], nodes: [] });
    return node;
  }

  private managerOf(path: string): string | undefined {
    for (const m of this.managers) if (m === '/' ? path !== '/' : path.startsWith(`${m}/`)) return m;
    return undefined;
  }

  private managedObjects(root: string): Record<string, Record<string, Record<string, Variant>>> {
    const out: Record<string, Record<string, Record<string, Variant>>> = {};
    const prefix = root === '/' ? '/' : `${root}/`;
    for (const [p, ifaces] of this.objects) {
      if (!p.startsWith(prefix) || p === root) continue;
      const o: Record<string, Record<string, Variant>> = {};
      for (const [name, e] of ifaces) o[name] = this.getAll(e);
      out[p] = o;
    }
    return out;
  }
}
