// dbus-daemon configuration files (dbus-daemon(1), "CONFIGURATION FILE"):
// the XML subset real configs use — listen, auth, allow_anonymous, servicedir,
// standard_*_servicedirs, include/includedir, policy (default/mandatory,
// user, group; allow/deny), limit, and the few elements we accept and ignore
// (type, fork, keep_umask, syslog, pidfile, user, apparmor, selinux). Anything
// else is an error naming the file and element: nothing is silently ignored.
import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { readXml, XmlError, type XmlElement } from '../util/xml-reader.js';

/** A configuration that cannot be used. */
export class BusConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BusConfigError';
  }
}

/** One `<allow>` or `<deny>` with its attributes. */
export interface PolicyRule {
  allow: boolean;
  attributes: Record<string, string>;
}

/** One `<policy>` block. */
export interface PolicyBlock {
  context?: 'default' | 'mandatory';
  user?: string;
  group?: string;
  /** at_console="true"/"false": applies when the user is (or is not) at the console (bus-policy.ts). */
  atConsole?: boolean;
  rules: PolicyRule[];
}

/** The merged result of a configuration file and its includes. */
export interface BusConfig {
  type: string | undefined;
  listen: string[];
  auth: string[];
  allowAnonymous: boolean;
  serviceDirs: string[];
  /**
   * The subset of serviceDirs that holds transient services
   * ($XDG_RUNTIME_DIR/dbus-1/services): not watched, and a file there is read
   * only when named after its service (`NAME.service`), as in dbus-daemon.
   */
  transientServiceDirs: string[];
  /** The `<includedir>` directories (watched, with the service directories: dir-watch.ts). */
  includeDirs: string[];
  /** Problems that did not stop the configuration, for the log. */
  warnings: string[];
  policies: PolicyBlock[];
  /** `<limit name=...>` values as numbers. */
  limits: Record<string, number>;
  /** Elements read and deliberately ignored, for a note at start. */
  ignored: string[];
  pidfile: string | undefined;
  syslog: boolean;
}

/** Reads the XML of `file` (util/xml-reader.ts, as expat reads it for dbus-daemon). */
function parseXml(text: string, file: string): XmlElement {
  try {
    return readXml(text);
  } catch (e) {
    if (e instanceof XmlError) throw new BusConfigError(`${file}:${e.line}:${e.column}: ${e.reason}`);
    throw e;
  }
}

const POLICY_ATTRIBUTES = new Set([
  'send_interface', 'send_member', 'send_error', 'send_destination', 'send_destination_prefix', 'send_path', 'send_type',
  'send_requested_reply', 'send_broadcast', 'receive_interface', 'receive_member', 'receive_error', 'receive_sender',
  'receive_path', 'receive_type', 'receive_requested_reply', 'eavesdrop', 'own', 'own_prefix', 'user', 'group', 'log',
  'max_fds', 'min_fds',
]);

/** The `<limit>` names that the bus applies (index.ts maps them onto BrokerLimits). */
const APPLIED_LIMITS = new Set([
  'max_message_size', 'max_outgoing_bytes', 'max_outgoing_unix_fds', 'max_match_rules_per_connection',
  'max_names_per_connection', 'max_replies_per_connection', 'max_connections_per_user', 'max_completed_connections',
  'max_incomplete_connections', 'auth_timeout', 'reply_timeout', 'service_start_timeout',
  // fastbus's own, per user (dbus-daemon refuses a config that has them): docs/broker.md.
  'max_outgoing_bytes_per_user', 'max_outgoing_unix_fds_per_user', 'max_match_rules_per_user', 'max_names_per_user',
]);

/**
 * Limits dbus-daemon 1.14 knows that are read and not applied: incoming queues
 * are bounded by design (each message is handled before the next read), fds
 * come with their message (never pending without it), and fastbus has no
 * org.freedesktop.DBus.Containers1 for the max_container* limits to bound.
 */
const UNAPPLIED_LIMITS = new Set([
  'max_incoming_bytes', 'max_incoming_unix_fds', 'max_message_unix_fds', 'pending_fd_timeout',
  'max_pending_service_starts',
  'max_containers', 'max_containers_per_user', 'max_connections_per_container', 'max_container_metadata_bytes',
]);

function sessionServiceDirs(): string[] {
  const dataHome = process.env.XDG_DATA_HOME || path.join(process.env.HOME ?? '/root', '.local/share');
  const dataDirs = (process.env.XDG_DATA_DIRS || '/usr/local/share:/usr/share').split(':');
  return [path.join(dataHome, 'dbus-1/services'), ...dataDirs.map((d) => path.join(d, 'dbus-1/services'))];
}

/**
 * The transient service directory, $XDG_RUNTIME_DIR/dbus-1/services, made
 * (0700) when missing, as dbus-daemon does while reading the configuration:
 * it and its parents must be ours and writable by nobody else. Returns the
 * directory, undefined without XDG_RUNTIME_DIR, or why it cannot be used.
 */
function transientServiceDir(): string | { problem: string } | undefined {
  const runtime = process.env.XDG_RUNTIME_DIR;
  if (!runtime) return undefined;
  const uid = process.geteuid?.() ?? 0;
  const check = (dir: string, label: string, create: boolean): string | undefined => {
    try {
      if (create) mkdirSync(dir, { mode: 0o700, recursive: false });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return `${label} "${dir}" not available: ${(e as Error).message}`;
    }
    let st;
    try {
      st = statSync(dir);
    } catch (e) {
      return `${label} "${dir}" not available: ${(e as Error).message}`;
    }
    if (!st.isDirectory()) return `${label} "${dir}" is not a directory`;
    if (st.uid !== uid) return `${label} "${dir}" is owned by uid ${st.uid}, not our uid ${uid}`;
    if (st.mode & 0o022) return `${label} "${dir}" can be written by others (mode 0${(st.mode & 0o7777).toString(8)})`;
    return undefined;
  };
  const dbus1 = path.join(runtime, 'dbus-1');
  const services = path.join(dbus1, 'services');
  const problem = check(runtime, 'XDG_RUNTIME_DIR', false) ?? check(dbus1, 'XDG_RUNTIME_DIR subdirectory', true)
    ?? check(services, 'XDG_RUNTIME_DIR subdirectory', true);
  return problem === undefined ? services : { problem };
}

function emptyConfig(): BusConfig {
  return { type: undefined, listen: [], auth: [], allowAnonymous: false, serviceDirs: [], transientServiceDirs: [], includeDirs: [], warnings: [], policies: [], limits: {}, ignored: [], pidfile: undefined, syslog: false };
}

function apply(config: BusConfig, el: XmlElement, file: string, depth: number): void {
  if (el.name !== 'busconfig') throw new BusConfigError(`${file}: the root element is <${el.name}>, expected <busconfig>`);
  const dir = path.dirname(file);
  const resolve = (p: string): string => (path.isAbsolute(p) ? p : path.join(dir, p));
  for (const c of el.children) {
    const text = c.text.trim();
    switch (c.name) {
      case 'type': config.type = text; break;
      case 'listen': config.listen.push(text); break;
      case 'auth': config.auth.push(text); break;
      case 'allow_anonymous': config.allowAnonymous = true; break;
      case 'servicedir': config.serviceDirs.push(resolve(text)); break;
      case 'standard_session_servicedirs': {
        const transient = transientServiceDir();
        if (typeof transient === 'string') {
          config.serviceDirs.push(transient);
          config.transientServiceDirs.push(transient);
        } else if (transient) config.warnings.push(`Unable to set up transient service directory: ${transient.problem}`);
        config.serviceDirs.push(...sessionServiceDirs());
        break;
      }
      case 'standard_system_servicedirs':
        config.serviceDirs.push('/usr/local/share/dbus-1/system-services', '/usr/share/dbus-1/system-services', '/lib/dbus-1/system-services');
        break;
      case 'pidfile': config.pidfile = text; break;
      case 'syslog': config.syslog = true; break;
      case 'fork': case 'keep_umask': case 'user': case 'servicehelper': case 'apparmor': case 'selinux': case 'associate':
        config.ignored.push(`<${c.name}>`);
        break;
      case 'include': {
        if (c.attributes.if_selinux_enabled === 'yes') break; // no SELinux support: such includes do not apply
        const target = resolve(text);
        let body: string;
        try {
          body = readFileSync(target, 'utf8');
        } catch (e) {
          if (c.attributes.ignore_missing === 'yes') break;
          throw new BusConfigError(`${file}: cannot include ${target}: ${(e as Error).message}`);
        }
        if (depth > 16) throw new BusConfigError(`${file}: includes nest too deep`);
        apply(config, parseXml(body, target), target, depth + 1);
        break;
      }
      case 'includedir': {
        const target = resolve(text);
        config.includeDirs.push(target);
        let names: string[] = [];
        try {
          names = readdirSync(target).filter((n) => n.endsWith('.conf')).sort();
        } catch {
          break; // a missing includedir is allowed
        }
        for (const n of names) {
          const f = path.join(target, n);
          apply(config, parseXml(readFileSync(f, 'utf8'), f), f, depth + 1);
        }
        break;
      }
      case 'policy': {
        const a = c.attributes;
        const block: PolicyBlock = { rules: [] };
        if (a.context !== undefined) {
          if (a.context !== 'default' && a.context !== 'mandatory') throw new BusConfigError(`${file}: <policy context="${a.context}"> must be default or mandatory`);
          block.context = a.context;
        }
        if (a.user !== undefined) block.user = a.user;
        if (a.group !== undefined) block.group = a.group;
        if (a.at_console !== undefined) {
          if (a.at_console !== 'true' && a.at_console !== 'false') throw new BusConfigError(`${file}: <policy at_console="${a.at_console}"> must be true or false`);
          block.atConsole = a.at_console === 'true';
        }
        if ([block.context, block.user, block.group, block.atConsole].filter((x) => x !== undefined).length !== 1) {
          throw new BusConfigError(`${file}: <policy> needs exactly one of context, user, group, at_console`);
        }
        for (const r of c.children) {
          if (r.name !== 'allow' && r.name !== 'deny') throw new BusConfigError(`${file}: unsupported element <${r.name}> in <policy>`);
          for (const k of Object.keys(r.attributes)) {
            if (!POLICY_ATTRIBUTES.has(k)) throw new BusConfigError(`${file}: unsupported attribute ${k} on <${r.name}>`);
          }
          for (const d of ['send', 'receive']) {
            const ra = r.attributes;
            if (ra[`${d}_member`] !== undefined && ra[`${d}_member`] !== '*' && ra[`${d}_interface`] === undefined && ra[`${d}_path`] === undefined) {
              // As dbus-daemon: not every message has an interface, so a member alone would be ambiguous.
              throw new BusConfigError(`${file}: <${r.name} ${d}_member=...> needs ${d}_interface or ${d}_path too`);
            }
          }
          for (const k of ['min_fds', 'max_fds']) {
            const v = r.attributes[k];
            if (v !== undefined && !/^\d+$/.test(v)) throw new BusConfigError(`${file}: ${k}="${v}" on <${r.name}> must be a number`);
          }
          block.rules.push({ allow: r.name === 'allow', attributes: { ...r.attributes } });
        }
        config.policies.push(block);
        break;
      }
      case 'limit': {
        const name = c.attributes.name;
        if (!name || !/^\d+$/.test(text)) throw new BusConfigError(`${file}: <limit name="${name ?? ''}"> needs a numeric value`);
        if (!APPLIED_LIMITS.has(name) && !UNAPPLIED_LIMITS.has(name)) throw new BusConfigError(`${file}: there is no limit called "${name}"`);
        if (UNAPPLIED_LIMITS.has(name)) config.ignored.push(`<limit name="${name}">`);
        config.limits[name] = Number(text);
        break;
      }
      default:
        throw new BusConfigError(`${file}: unsupported element <${c.name}>`);
    }
  }
}

/** Reads a configuration file with its includes; throws BusConfigError. */
export function readBusConfig(file: string): BusConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new BusConfigError(`cannot read configuration file ${file}: ${(e as Error).message}`);
  }
  return parseBusConfig(text, file);
}

/** Parses configuration text (`file` resolves relative includes and names errors). */
export function parseBusConfig(text: string, file: string): BusConfig {
  const config = emptyConfig();
  apply(config, parseXml(text, file), path.resolve(file), 0);
  return config;
}
