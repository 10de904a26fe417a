// fastbus/broker: a D-Bus message bus that standard clients use unchanged.
// `startBroker(options)` listens, routes and returns { address, close() };
// `fastbus daemon` is the same bus behind dbus-daemon's command line.
//
// One message's way through the folder: broker.ts (accept, check, dispatch) ->
// router.ts (unicast: reply check via reply-tracker.ts, policy, queue limits,
// deliver) or fan-out.ts (match rules, broadcast, eavesdropping) or driver.ts
// (org.freedesktop.DBus); monitors.ts copies it to monitors on the way.
// Direct-path grants (issue 12) are to get a file of their own beside
// router.ts, hooked where routeUnicast and fan-out deliver.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Activator, SYSTEMD_NAME, type ServiceDirs } from './activation.js';
import { DirWatch } from './dir-watch.js';
import { Broker } from './broker.js';
import { DEFAULT_LIMITS, type BrokerLimits, type BrokerSettings, type DirectSettings } from './broker-settings.js';
import { readBusConfig, type BusConfig } from './bus-config.js';
import { BusPolicy } from './bus-policy.js';
import * as native from '../native/native.js';
import { MessageType, type Message } from '../wire/index.js';

export { Broker } from './broker.js';
export { DEFAULT_LIMITS, type BrokerLimits, type BrokerSettings } from './broker-settings.js';
export { BusError, BusErrors } from './bus-error.js';
export { NameRegistry, NameFlags, RequestNameReply, ReleaseNameReply } from './name-registry.js';
export { readBusConfig, parseBusConfig, BusConfigError, type BusConfig } from './bus-config.js';

/** Options of startBroker; everything is optional. */
export interface BrokerOptions {
  /** Listen address(es), `;`-separated alternatives; overrides the config's `<listen>`. Default: a fresh socket under $XDG_RUNTIME_DIR or a private temp dir. */
  address?: string | string[];
  /** A dbus-daemon configuration file (listen, auth, policy, limits, service dirs). */
  configFile?: string;
  /** Uids allowed to connect; default: as the config's `<allow user/group>` rules say, else this process's uid. */
  allowUids?: number[] | 'any';
  allowAnonymous?: boolean;
  /** Extra service directories for activation. */
  serviceDirs?: string[];
  limits?: Partial<BrokerLimits>;
  /** When the direct path grants channels (docs/direct.md); default DEFAULT_DIRECT. */
  direct?: Partial<DirectSettings>;
  /** Where one-line diagnostics go (default: stderr). */
  log?: (line: string) => void;
  /** Also take sockets passed by systemd (LISTEN_FDS). */
  socketActivation?: boolean;
  /**
   * systemd activation (dbus-daemon's --systemd-activation): a service whose
   * file names a SystemdService= is started by asking org.freedesktop.systemd1
   * (ActivationRequest), which is never spawned itself.
   */
  systemdActivation?: boolean;
  /**
   * After handling a message, keep polling the sockets for up to this many
   * microseconds before sleeping (adaptive; 0 turns it off). It is
   * `native.loopSpin`: it applies to every socket of this thread and outlives
   * `close()`, so an embedded bus leaves it off unless asked; `fastbus daemon`
   * sets 100. See docs/broker.md.
   */
  busyPollUs?: number;
}

/** A running bus. */
export interface RunningBroker {
  /** The address clients connect to (with guid). */
  readonly address: string;
  readonly broker: Broker;
  /** Re-reads the configuration file (what SIGHUP and ReloadConfig do). */
  reload(): Promise<void>;
  close(): void;
}

/** The default listen address: a new socket in $XDG_RUNTIME_DIR, else in a private 0700 temp directory. */
export function defaultAddress(): string {
  const runtime = process.env.XDG_RUNTIME_DIR;
  const dir = runtime && path.isAbsolute(runtime) ? runtime : mkdtempSync(path.join(os.tmpdir(), 'fastbus-'));
  return `unix:dir=${dir}`;
}

const LIMIT_NAMES: Record<string, keyof BrokerLimits> = {
  max_message_size: 'maxMessageBytes',
  max_outgoing_bytes: 'maxQueuedBytes',
  max_outgoing_unix_fds: 'maxQueuedFds',
  max_match_rules_per_connection: 'maxMatchRules',
  max_names_per_connection: 'maxNames',
  max_replies_per_connection: 'maxPendingReplies',
  max_connections_per_user: 'maxConnectionsPerUser',
  // fastbus's own (dbus-daemon warns about them and goes on): per-user accounting, see docs/broker.md.
  max_outgoing_bytes_per_user: 'maxQueuedBytesPerUser',
  max_outgoing_unix_fds_per_user: 'maxQueuedFdsPerUser',
  max_match_rules_per_user: 'maxMatchRulesPerUser',
  max_names_per_user: 'maxNamesPerUser',
  max_completed_connections: 'maxConnections',
  max_incomplete_connections: 'maxIncompleteConnections',
  auth_timeout: 'authTimeoutMs',
  reply_timeout: 'replyTimeoutMs',
};

function limitsFrom(config: BusConfig | undefined, overrides: Partial<BrokerLimits> | undefined): BrokerLimits {
  const limits = { ...DEFAULT_LIMITS };
  for (const [name, value] of Object.entries(config?.limits ?? {})) {
    const key = LIMIT_NAMES[name];
    if (key) limits[key] = value;
  }
  // The specification's limit caps any configured message size.
  limits.maxMessageBytes = Math.min(limits.maxMessageBytes, DEFAULT_LIMITS.maxMessageBytes);
  return { ...limits, ...overrides };
}

/** Starts a bus and resolves once it listens. Throws BusConfigError, BusAddressError or SystemError. */
export async function startBroker(options: BrokerOptions = {}): Promise<RunningBroker> {
  const log = options.log ?? ((line: string) => process.stderr.write(`fastbus-broker: ${line}\n`));
  let config = options.configFile ? readBusConfig(options.configFile) : undefined;
  if (config && config.ignored.length > 0) log(`${options.configFile}: read and not applied: ${[...new Set(config.ignored)].join(', ')}`);
  // Sockets handed over by systemd replace the configured and default addresses.
  const activated = options.socketActivation === true && Number(process.env.LISTEN_FDS ?? 0) > 0;
  const listen = options.address !== undefined
    ? (Array.isArray(options.address) ? options.address : [options.address])
    : activated ? [] : config?.listen.length ? config.listen : [defaultAddress()];
  for (const w of config?.warnings ?? []) log(w);
  let broker: Broker | undefined;
  const serviceDirs = (c: BusConfig | undefined): ServiceDirs => ({
    dirs: [...(c?.serviceDirs ?? []), ...(options.serviceDirs ?? [])],
    transient: c?.transientServiceDirs ?? [],
  });
  const startTimeoutMs = (c: BusConfig | undefined): number => c?.limits.service_start_timeout ?? 25000;
  let reload: () => Promise<void> = async () => undefined;
  const activator = new Activator(serviceDirs(config), {
    environment: () => ({
      ...Object.fromEntries(broker?.activationEnvironment ?? []),
      DBUS_STARTER_ADDRESS: broker?.address ?? '',
      DBUS_STARTER_BUS_TYPE: config?.type ?? 'session',
      ...(config?.type === 'system' ? { DBUS_SYSTEM_BUS_ADDRESS: broker?.address ?? '' } : { DBUS_SESSION_BUS_ADDRESS: broker?.address ?? '' }),
    }),
    requestUnit: (unit, kept) => {
      if (!broker) return false;
      // As dbus-daemon: addressed to systemd's well-known name, and shown to monitors when made.
      const request: Message = {
        type: MessageType.SIGNAL, flags: 0, serial: 0, destination: SYSTEMD_NAME, path: '/org/freedesktop/DBus',
        interface: 'org.freedesktop.systemd1.Activator', member: 'ActivationRequest', signature: 's', body: [unit],
      };
      const systemd = broker.lookup(SYSTEMD_NAME);
      if (!systemd) {
        if (!kept) broker.router.showMonitors(request);
        return false;
      }
      broker.router.sendFromBus(systemd, request, undefined, !kept);
      return true;
    },
    log,
  }, { systemd: options.systemdActivation ?? false, timeoutMs: startTimeoutMs(config) });
  // As dbus-daemon: a change in an include directory or a (not transient) service directory reloads the configuration.
  const watch = new DirWatch(() => {
    reload().catch((e: unknown) => log(`Unable to reload configuration: ${(e as Error).message}`));
  });
  const watched = (c: BusConfig | undefined): string[] => {
    const dirs = serviceDirs(c);
    return [...(c?.includeDirs ?? []), ...dirs.dirs.filter((d) => !dirs.transient.includes(d))];
  };
  watch.set(watched(config));
  // A configuration without <policy> denies every message, as in dbus-daemon; no configuration allows all.
  const policyOf = (c: BusConfig | undefined) => (c ? new BusPolicy(c.policies) : undefined);
  let policy = policyOf(config);
  const settings: BrokerSettings = {
    listen,
    socketActivation: options.socketActivation ?? false,
    // <allow user=...>/<allow group=...> in the config decide who may connect; else only our own uid.
    allowUids: options.allowUids ?? (policy ? (uid: number) => policy!.allowsUser(uid) : [process.getuid?.() ?? 0]),
    allowAnonymous: options.allowAnonymous ?? config?.allowAnonymous ?? false,
    authMechanisms: config?.auth.length ? [...config.auth, ...(config.allowAnonymous ? ['ANONYMOUS'] : [])] : undefined,
    limits: limitsFrom(config, options.limits),
    ...(options.direct ? { direct: options.direct } : {}),
    log,
    busType: config?.type,
    activate: (name) => activator.start(name),
    activatableNames: () => activator.names(),
    activatable: (name) => activator.activatable(name),
    systemdActivation: activator.systemd,
    systemdFailed: (unit, errorName, message) => activator.systemdFailed(unit, errorName, message),
    onNameAcquired: (name) => activator.acquired(name),
    canOwn: (uid, name) => policy?.canOwn(uid, name) ?? true,
    messagePolicy: () => (policy && !policy.open ? policy : undefined),
    eavesdropPolicy: () => (policy && !policy.openToEavesdropping ? policy : undefined),
  };
  reload = async (): Promise<void> => {
    if (options.configFile) {
      config = readBusConfig(options.configFile);
      for (const w of config.warnings) log(w);
      policy = policyOf(config);
      settings.limits = limitsFrom(config, options.limits);
      settings.busType = config.type;
      activator.reload(serviceDirs(config), startTimeoutMs(config));
      watch.set(watched(config));
    } else {
      activator.reload();
    }
    // As dbus-daemon: every reload may change what is activatable, and says so (before ReloadConfig's reply).
    broker?.router.signal('ActivatableServicesChanged', '', []);
  };
  settings.reload = reload;
  // Polling is per thread: the bus that turned it on turns it off when it stops.
  const polling = options.busyPollUs !== undefined && options.busyPollUs > 0;
  if (options.busyPollUs !== undefined) native.loopSpin(options.busyPollUs);
  try {
    broker = await Broker.start(settings);
  } catch (e) {
    watch.close();
    if (polling) native.loopSpin(0);
    throw e;
  }
  const b = broker;
  return {
    address: b.address, broker: b, reload,
    close: () => {
      watch.close();
      b.close();
      if (polling) native.loopSpin(0);
    },
  };
}
