// fastbus/broker: a D-Bus message bus that standard clients use unchanged.
// `startBroker(options)` listens, routes and returns { address, close() };
// `fastbus daemon` is the same bus behind dbus-daemon's command line.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Broker, DEFAULT_LIMITS, type BrokerLimits, type BrokerSettings } from './broker.js';

export { Broker, DEFAULT_LIMITS, type BrokerLimits, type BrokerSettings } from './broker.js';
export { BusError, BusErrors } from './bus-error.js';
export { NameRegistry, NameFlags, RequestNameReply, ReleaseNameReply } from './name-registry.js';

/** Options of startBroker; everything is optional. */
export interface BrokerOptions {
  /** Listen address(es), `;`-separated alternatives; default: a fresh socket under $XDG_RUNTIME_DIR or a private temp dir. */
  address?: string | string[];
  /** Uids allowed to connect; default: this process's uid. */
  allowUids?: number[] | 'any';
  allowAnonymous?: boolean;
  limits?: Partial<BrokerLimits>;
  /** Where one-line diagnostics go (default: stderr). */
  log?: (line: string) => void;
  /** Also take sockets passed by systemd (LISTEN_FDS). */
  socketActivation?: boolean;
}

/** A running bus. */
export interface RunningBroker {
  /** The address clients connect to (with guid). */
  readonly address: string;
  readonly broker: Broker;
  close(): void;
}

/** The default listen address: a new socket in $XDG_RUNTIME_DIR, else in a private 0700 temp directory. */
export function defaultAddress(): string {
  const runtime = process.env.XDG_RUNTIME_DIR;
  const dir = runtime && path.isAbsolute(runtime) ? runtime : mkdtempSync(path.join(os.tmpdir(), 'fastbus-'));
  return `unix:dir=${dir}`;
}

/** Starts a bus and resolves once it listens. */
export async function startBroker(options: BrokerOptions = {}): Promise<RunningBroker> {
  const listen = options.address === undefined ? [defaultAddress()] : Array.isArray(options.address) ? options.address : [options.address];
  const settings: BrokerSettings = {
    listen,
    socketActivation: options.socketActivation ?? false,
    allowUids: options.allowUids ?? [process.getuid?.() ?? 0],
    allowAnonymous: options.allowAnonymous ?? false,
    authMechanisms: undefined,
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    log: options.log ?? ((line) => process.stderr.write(`fastbus-broker: ${line}\n`)),
  };
  const broker = await Broker.start(settings);
  return { address: broker.address, broker, close: () => broker.close() };
}
