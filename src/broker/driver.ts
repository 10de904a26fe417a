// The bus driver: org.freedesktop.DBus and its companions (Monitoring,
// Debug.Stats, Peer, Introspectable, Properties), answered by the bus itself
// (D-Bus specification, "Message Bus Messages"). Methods older than
// specification 0.26 answer on any path; the newer ones only on the bus path.
// Credentials, stats and introspection have files of their own (driver-*.ts).
import { readFileSync } from 'node:fs';
import { isValidBusName, isValidErrorName, isValidUniqueName, isValidWellKnownName } from '../names/index.js';
import { formatMatchRule, MatchRuleError, parseMatchRule, type MatchRule } from '../match/index.js';
import { Variant, type DecodedMessage } from '../wire/index.js';
import type { Broker } from './broker.js';
import { BusError, BusErrors } from './bus-error.js';
import type { Connection } from './connection.js';
import { defineCredentialMethods } from './driver-credentials.js';
import { introspectDriver } from './driver-introspection.js';
import { SYSTEMD_NAME } from './activation.js';
import { ANY_PATH_INTERFACES, DRIVER_INTERFACE, DRIVER_NAME, DRIVER_PATH, INTERFACE_ORDER, INTROSPECTABLE, MONITORING, PEER, PROPERTIES, STATS } from './driver-names.js';
import { defineStatsMethods } from './driver-stats.js';

type Result = [string, unknown[]] | 'handled';

/** One method the driver answers. */
export interface DriverMethod {
  iface: string;
  member: string;
  in: string;
  out: string;
  /** Argument names, in then out (documentation: dbus-daemon's introspection, which ours follows, names none). */
  args: string[];
  /** Answers on any object path (methods older than specification 0.26). */
  anyPath: boolean;
  /** Only for root and the bus's own user (checked before the path and the arguments). */
  privileged?: boolean;
  run(conn: Connection, msg: DecodedMessage): Result;
}

function invalidArgs(text: string): never {
  throw new BusError(BusErrors.InvalidArgs, text);
}

function machineId(): string {
  for (const f of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      const id = readFileSync(f, 'utf8').trim();
      if (/^[0-9a-f]{32}$/.test(id)) return id;
    } catch {
      // try the next
    }
  }
  return '0'.repeat(32);
}

/** The rule argument of AddMatch/RemoveMatch; a malformed rule is MatchRuleInvalid. */
function parseRuleArgument([text]: [string]): MatchRule {
  try {
    return parseMatchRule(text);
  } catch (e) {
    if (e instanceof MatchRuleError) throw new BusError(BusErrors.MatchRuleInvalid, e.message);
    throw e;
  }
}

/** Dispatches method calls addressed to org.freedesktop.DBus. */
export class Driver {
  private readonly methods: DriverMethod[] = [];
  private readonly byMember = new Map<string, DriverMethod[]>();
  private machineIdCache: string | undefined;

  constructor(private readonly bus: Broker) {
    this.define();
    for (const m of this.methods) {
      const list = this.byMember.get(m.member) ?? [];
      list.push(m);
      this.byMember.set(m.member, list);
    }
  }

  /**
   * Handles one method call to the driver, answering with a return or an
   * error, as dbus-daemon looks a method up: the interfaces available at the
   * call's path, in order (or only the one named); a privileged method checks
   * the caller first, then the path, then the arguments.
   */
  call(conn: Connection, msg: DecodedMessage): void {
    const member = msg.member!;
    const canonical = msg.path === DRIVER_PATH;
    let foundInterface = false;
    let method: DriverMethod | undefined;
    for (const iface of INTERFACE_ORDER) {
      if (!canonical && !ANY_PATH_INTERFACES.has(iface)) continue;
      if (msg.interface !== undefined && msg.interface !== iface) continue;
      foundInterface = true;
      method = this.byMember.get(member)?.find((m) => m.iface === iface);
      if (method) break;
    }
    const router = this.bus.router;
    if (!method) {
      router.replyError(conn, msg, foundInterface ? BusErrors.UnknownMethod : BusErrors.UnknownInterface, `${DRIVER_NAME} does not understand message ${member}`);
      return;
    }
    if (member !== 'Hello' && !conn.helloDone) return;
    let result: Result;
    try {
      if (method.privileged) this.checkPrivileged(conn, member);
      if (!canonical && !method.anyPath) {
        throw new BusError(BusErrors.AccessDenied, `Method '${member}' is only available at the canonical object path '${DRIVER_PATH}'`);
      }
      if ((msg.signature ?? '') !== method.in) {
        throw new BusError(BusErrors.InvalidArgs, `Call to ${member} has wrong args (${msg.signature ?? ''}, expected ${method.in})\n`);
      }
      result = method.run(conn, msg);
    } catch (e) {
      if (e instanceof BusError) {
        router.replyError(conn, msg, e.errorName, e.message);
        return;
      }
      throw e;
    }
    if (result !== 'handled') router.reply(conn, msg, result[0], result[1]);
  }

  /**
   * A signal to the bus: only systemd's ActivationFailure means something
   * (systemd activation), and only from the owner of org.freedesktop.systemd1
   * running as root or as the bus's user, as in dbus-daemon.
   */
  signal(conn: Connection, msg: DecodedMessage): void {
    if (msg.interface !== 'org.freedesktop.systemd1.Activator' || msg.member !== 'ActivationFailure') return;
    try {
      this.checkPrivileged(conn, 'ActivationFailure');
    } catch (e) {
      this.bus.router.replyError(conn, msg, (e as BusError).errorName, (e as BusError).message);
      return;
    }
    if (this.bus.lookup(SYSTEMD_NAME) !== conn) {
      this.bus.log(`Ignoring forged ActivationFailure message from connection ${conn.uniqueName}`);
      return;
    }
    if (msg.signature !== 'sss') return;
    const [unit, errorName, text] = msg.body as [string, string, string];
    this.bus.settings.systemdFailed?.(unit, isValidErrorName(errorName) ? errorName : BusErrors.Failed, text);
  }

  /** The machine id Peer.GetMachineId answers. */
  machineId(): string {
    return (this.machineIdCache ??= machineId());
  }

  /** Defines a method (the driver-*.ts files add theirs through it). */
  add(iface: string, member: string, sig: string, out: string, args: string[], anyPath: boolean, run: DriverMethod['run'], privileged = false): void {
    this.methods.push({ iface, member, in: sig, out, args, anyPath, privileged, run });
  }

  /** As dbus-daemon: some methods are only for root and the bus's own user (not for ANONYMOUS connections). */
  checkPrivileged(conn: Connection, method: string): void {
    const uid = conn.uid;
    if (uid !== undefined && (uid === 0 || uid === process.geteuid?.())) return;
    throw new BusError(BusErrors.AccessDenied, `rejected attempt to call ${method} by connection ${conn.uniqueName} with ${uid === undefined ? 'unknown uid' : `uid ${uid}`}`);
  }

  /** The connection a bus name names; NameHasNoOwner when none. */
  connectionOf(name: string): Connection {
    if (!isValidBusName(name)) invalidArgs(`"${name}" is not a valid bus name`);
    const c = this.bus.lookup(name);
    if (!c) throw new BusError(BusErrors.NameHasNoOwner, `Could not get owner of name '${name}': no such name`);
    return c;
  }

  private define(): void {
    const bus = this.bus;
    const D = DRIVER_INTERFACE;
    this.add(D, 'Hello', '', 's', ['unique_name'], true, (conn, msg) => {
      if (conn.helloDone) throw new BusError(BusErrors.Failed, 'Already handled an Hello message');
      conn.helloDone = true;
      const name = conn.uniqueName ?? bus.hello(conn);
      bus.router.reply(conn, msg, 's', [name]);
      bus.router.signal('NameOwnerChanged', 'sss', [name, '', name]);
      bus.router.signal('NameAcquired', 's', [name], conn);
      return 'handled';
    });
    this.add(D, 'RequestName', 'su', 'u', ['name', 'flags', 'result'], true, (conn, msg) => {
      const [name, flags] = msg.body as [string, number];
      if (!isValidBusName(name)) invalidArgs(`Requested bus name "${name}" is not valid`);
      if (isValidUniqueName(name)) invalidArgs(`Cannot acquire a service starting with ':' such as "${name}"`);
      if (name === DRIVER_NAME) invalidArgs(`Connection "${conn.uniqueName}" is not allowed to own the service "${DRIVER_NAME}" because it is reserved for D-Bus' use only`);
      if (!bus.policyAllowsOwn(conn, name)) {
        throw new BusError(BusErrors.AccessDenied, `Connection "${conn.uniqueName}" is not allowed to own the service "${name}" due to security policies in the configuration file`);
      }
      // As dbus-daemon: the unique name counts, and so does asking again for a name already held.
      if (bus.names.countOf(conn) + 1 >= bus.settings.limits.maxNames) {
        throw new BusError(BusErrors.LimitsExceeded, `Connection "${conn.uniqueName}" is not allowed to own more services (increase limits in configuration file if required; max_names_per_connection=${bus.settings.limits.maxNames})`);
      }
      const limits = bus.settings.limits;
      if (conn.account.names >= limits.maxNamesPerUser && !bus.names.holds(conn, name)) {
        throw new BusError(BusErrors.LimitsExceeded, `The connections of ${conn.account.describe()} are not allowed to own more services (max_names_per_user=${limits.maxNamesPerUser})`);
      }
      // As dbus-daemon: NameLost, NameOwnerChanged and NameAcquired go out before the reply.
      const r = bus.names.request(name, conn, flags);
      if (r.change) bus.announce(r.change);
      return ['u', [r.reply]];
    });
    this.add(D, 'ReleaseName', 's', 'u', ['name', 'result'], true, (conn, msg) => {
      const [name] = msg.body as [string];
      if (!isValidBusName(name)) invalidArgs(`Given bus name "${name}" is not valid`);
      if (isValidUniqueName(name)) invalidArgs(`Cannot release a service starting with ':' such as "${name}"`);
      if (name === DRIVER_NAME) invalidArgs(`Cannot release the service "${DRIVER_NAME}" because it is owned by the bus`);
      const r = bus.names.release(name, conn);
      if (r.change) bus.announce(r.change);
      return ['u', [r.reply]];
    });
    this.add(D, 'ListQueuedOwners', 's', 'as', ['name', 'queued_owners'], true, (_conn, msg) => {
      const [name] = msg.body as [string];
      if (!isValidBusName(name)) invalidArgs(`"${name}" is not a valid bus name`);
      if (name === DRIVER_NAME) return ['as', [[DRIVER_NAME]]];
      if (isValidUniqueName(name)) {
        if (!bus.uniques.has(name)) throw new BusError(BusErrors.NameHasNoOwner, `Could not get owners of name '${name}': no such name`);
        return ['as', [[name]]];
      }
      const q = bus.names.queueOf(name);
      if (q.length === 0) throw new BusError(BusErrors.NameHasNoOwner, `Could not get owners of name '${name}': no such name`);
      return ['as', [q.map((c) => c.uniqueName!)]];
    });
    this.add(D, 'ListNames', '', 'as', ['names'], true, () => ['as', [[DRIVER_NAME, ...bus.names.ownedNames(), ...bus.uniques.keys()]]]);
    this.add(D, 'ListActivatableNames', '', 'as', ['activatable_names'], true, () => ['as', [[DRIVER_NAME, ...(bus.settings.activatableNames?.() ?? [])]]]);
    this.add(D, 'NameHasOwner', 's', 'b', ['name', 'has_owner'], true, (_conn, msg) => {
      const [name] = msg.body as [string];
      if (!isValidBusName(name)) invalidArgs(`"${name}" is not a valid bus name`);
      return ['b', [name === DRIVER_NAME || bus.lookup(name) !== undefined]];
    });
    this.add(D, 'StartServiceByName', 'su', 'u', ['name', 'flags', 'start_result'], true, (conn, msg) => {
      const [name] = msg.body as [string, number];
      if (!isValidWellKnownName(name)) invalidArgs(`"${name}" is not a valid well-known name`);
      if (bus.lookup(name)) return ['u', [2]];
      if (!bus.settings.activatable?.(name) || !bus.settings.activate) {
        throw new BusError(BusErrors.ServiceUnknown, `The name ${name} was not provided by any .service files`);
      }
      bus.settings.activate(name).then(
        () => bus.router.reply(conn, msg, 'u', [1]),
        (e: unknown) => {
          const err = e instanceof BusError ? e : new BusError(BusErrors.SpawnFailed, String(e));
          bus.router.replyError(conn, msg, err.errorName, err.message);
        },
      );
      return 'handled';
    });
    this.add(D, 'UpdateActivationEnvironment', 'a{ss}', '', ['environment'], false, (_conn, msg) => {
      if (bus.settings.busType === 'system') throw new BusError(BusErrors.AccessDenied, 'Cannot change activation environment on a system bus.');
      const env = msg.body[0] as Map<string, string>;
      for (const [k, v] of env) bus.activationEnvironment.set(k, v);
      return ['', []];
    }, true);
    this.add(D, 'GetNameOwner', 's', 's', ['name', 'unique_name'], true, (_conn, msg) => {
      const [name] = msg.body as [string];
      if (name === DRIVER_NAME) return ['s', [DRIVER_NAME]];
      if (!isValidBusName(name)) invalidArgs(`"${name}" is not a valid bus name`);
      const c = bus.lookup(name);
      if (!c) throw new BusError(BusErrors.NameHasNoOwner, `Could not get owner of name '${name}': no such name`);
      return ['s', [c.uniqueName!]];
    });
    defineCredentialMethods(this, bus);
    this.add(D, 'AddMatch', 's', '', ['rule'], true, (conn, msg) => {
      const rule = parseRuleArgument(msg.body as [string]);
      bus.fanOut.addMatch(conn, rule, formatMatchRule(rule));
      return ['', []];
    });
    this.add(D, 'RemoveMatch', 's', '', ['rule'], true, (conn, msg) => {
      const rule = parseRuleArgument(msg.body as [string]);
      if (!bus.fanOut.removeMatch(conn, rule, formatMatchRule(rule))) {
        throw new BusError(BusErrors.MatchRuleNotFound, 'The given match rule wasn\'t found and can\'t be removed');
      }
      return ['', []];
    });
    this.add(D, 'GetId', '', 's', ['id'], true, () => ['s', [bus.guid]]);
    this.add(D, 'ReloadConfig', '', '', [], true, (conn, msg) => {
      const reload = bus.settings.reload;
      if (!reload) return ['', []];
      reload().then(
        () => bus.router.reply(conn, msg, '', []),
        (e: unknown) => bus.router.replyError(conn, msg, BusErrors.Failed, `Unable to reload configuration: ${(e as Error).message}`),
      );
      return 'handled';
    });
    this.add(MONITORING, 'BecomeMonitor', 'asu', '', ['rule', 'flags'], false, (conn, msg) => {
      const [texts, flags] = msg.body as [string[], number];
      if (flags !== 0) invalidArgs('BecomeMonitor flags must be 0');
      const rules: MatchRule[] = [];
      for (const t of texts) {
        try {
          rules.push(parseMatchRule(t));
        } catch (e) {
          if (e instanceof MatchRuleError) throw new BusError(BusErrors.MatchRuleInvalid, e.message);
          throw e;
        }
      }
      // Direct channels are revoked before the reply: whatever a peer sends after it passes the bus.
      bus.direct.revokeAll();
      bus.router.reply(conn, msg, '', []);
      bus.monitors.become(conn, rules);
      return 'handled';
    }, true);
    defineStatsMethods(this, bus);
    this.add(PEER, 'Ping', '', '', [], true, () => ['', []]);
    this.add(PEER, 'GetMachineId', '', 's', ['machine_uuid'], true, () => ['s', [this.machineId()]]);
    this.add(INTROSPECTABLE, 'Introspect', '', 's', ['xml_data'], true, (_conn, msg) => ['s', [this.introspect(msg.path!)]]);
    this.add(PROPERTIES, 'Get', 'ss', 'v', ['interface_name', 'property_name', 'value'], false, (_conn, msg) => {
      const [iface, prop] = msg.body as [string, string];
      return ['v', [this.property(iface, prop)]];
    });
    this.add(PROPERTIES, 'GetAll', 's', 'a{sv}', ['interface_name', 'properties'], false, (_conn, msg) => {
      const [iface] = msg.body as [string];
      const m = new Map<string, Variant>();
      if (iface === DRIVER_INTERFACE || iface === '') for (const p of ['Features', 'Interfaces']) m.set(p, this.property(DRIVER_INTERFACE, p));
      else if (!this.methods.some((x) => x.iface === iface)) throw new BusError(BusErrors.UnknownInterface, `Interface "${iface}" does not exist`);
      return ['a{sv}', [m]];
    });
    this.add(PROPERTIES, 'Set', 'ssv', '', ['interface_name', 'property_name', 'value'], false, (_conn, msg) => {
      const [iface, prop] = msg.body as [string, string];
      this.property(iface, prop);
      throw new BusError(BusErrors.PropertyReadOnly, `Property "${prop}" is read-only`);
    });
  }

  private property(iface: string, prop: string): Variant {
    if (iface !== DRIVER_INTERFACE && iface !== '') {
      if (this.methods.some((x) => x.iface === iface)) throw new BusError(BusErrors.UnknownProperty, `Interface "${iface}" has no property "${prop}"`);
      throw new BusError(BusErrors.UnknownInterface, `Interface "${iface}" does not exist`);
    }
    if (prop === 'Features') return new Variant('as', ['ActivatableServicesChanged', 'HeaderFiltering', ...(this.bus.settings.systemdActivation ? ['SystemdActivation'] : [])]);
    if (prop === 'Interfaces') return new Variant('as', [MONITORING, STATS]);
    throw new BusError(BusErrors.UnknownProperty, `Property "${prop}" does not exist`);
  }

  /** Introspection XML: the bus interfaces at every path, and the child node under "/". */
  introspect(path: string): string {
    return introspectDriver(this.methods, path);
  }
}
