// How a bus is set up: its listen addresses, who may connect and
// authenticate how, its limits (dbus-daemon's `<limit>` names, per connection
// and per user), policy and activation hooks. Read by every part of the bus.
import type { BusPolicy } from './bus-policy.js';

/** Per-connection and per-user limits (dbus-daemon's `<limit>` names in comments). */
export interface BrokerLimits {
  /** max_message_size */
  maxMessageBytes: number;
  /** max_outgoing_bytes: bytes queued towards one connection. */
  maxQueuedBytes: number;
  /** max_outgoing_unix_fds */
  maxQueuedFds: number;
  /** max_match_rules_per_connection */
  maxMatchRules: number;
  /** max_names_per_connection */
  maxNames: number;
  /** max_replies_per_connection */
  maxPendingReplies: number;
  /** max_connections_per_user */
  maxConnectionsPerUser: number;
  /** max_outgoing_bytes_per_user (fastbus's own): bytes waiting in queues charged to one user (see queue-charges.ts). */
  maxQueuedBytesPerUser: number;
  /** max_outgoing_unix_fds_per_user (fastbus's own): fds waiting in queues charged to one user. */
  maxQueuedFdsPerUser: number;
  /** max_match_rules_per_user (fastbus's own) */
  maxMatchRulesPerUser: number;
  /** max_names_per_user (fastbus's own): names owned or queued for by one user's connections. */
  maxNamesPerUser: number;
  /** max_completed_connections: connections whose Hello was answered; the Hello past it gets LimitsExceeded. */
  maxConnections: number;
  /** max_incomplete_connections: connections not yet past Hello; at the limit new ones wait in the backlog. */
  maxIncompleteConnections: number;
  /** auth_timeout: from accept until Hello is answered, as in dbus-daemon. */
  authTimeoutMs: number;
  /** reply_timeout: the bus answers NoReply to a call unanswered this long; 0 = never (dbus-daemon's default). */
  replyTimeoutMs: number;
}

export const DEFAULT_LIMITS: BrokerLimits = {
  maxMessageBytes: 128 * 1024 * 1024,
  maxQueuedBytes: 256 * 1024 * 1024,
  maxQueuedFds: 65536,
  maxMatchRules: 50000,
  maxNames: 50000,
  maxPendingReplies: 50000,
  maxConnectionsPerUser: 100000,
  maxQueuedBytesPerUser: 64 * 1024 * 1024,
  maxQueuedFdsPerUser: 4096,
  maxMatchRulesPerUser: 50000,
  maxNamesPerUser: 50000,
  maxConnections: 100000,
  maxIncompleteConnections: 10000,
  authTimeoutMs: 30000,
  replyTimeoutMs: 0,
};

/** How the bus is set up. */
export interface BrokerSettings {
  /** Listen addresses (`;`-separated alternatives each become a listener). */
  listen: string[];
  /** Use sockets from systemd socket activation (LISTEN_FDS) as well. */
  socketActivation: boolean;
  /** Uids allowed to connect (EXTERNAL); default: the bus owner only. */
  allowUids: number[] | 'any' | ((uid: number) => boolean);
  allowAnonymous: boolean;
  /** SASL mechanisms allowed (`<auth>`); undefined: all we have. */
  authMechanisms: string[] | undefined;
  limits: BrokerLimits;
  /** Where one-line diagnostics go. */
  log: (line: string) => void;
  /** The config's `<type>` (a system bus refuses UpdateActivationEnvironment). */
  busType?: string;
  /** Activation: starts the service for `name`; resolves once the name has an owner. */
  activate?: (name: string) => Promise<void>;
  /** Names activation could start (ListActivatableNames). */
  activatableNames?: () => string[];
  /** Whether activation can start `name` (reads the service directories again if it does not know it). */
  activatable?: (name: string) => boolean;
  /** --systemd-activation (listed in the Features property). */
  systemdActivation?: boolean;
  /** org.freedesktop.systemd1 sent ActivationFailure(unit, error name, message). */
  systemdFailed?: (unit: string, errorName: string, message: string) => void;
  /** ReloadConfig. */
  reload?: () => Promise<void>;
  /** Told when a name gets a primary owner (activation waits on it). */
  onNameAcquired?: (name: string) => void;
  /** Policy: may this connection own this name (`<allow own=...>`)? Default: yes. */
  canOwn?: (uid: number | undefined, name: string) => boolean;
  /** Send/receive rules, unless they let every message pass (then undefined: nothing to check). */
  messagePolicy?: () => BusPolicy | undefined;
  /** The same for copies to eavesdroppers (undefined when every copy may pass). */
  eavesdropPolicy?: () => BusPolicy | undefined;
  /** When the direct path grants channels (docs/direct.md). */
  direct?: Partial<DirectSettings>;
}

/** When and how the bus grants channels. */
export interface DirectSettings {
  /** Messages the bus routes between two capable connections before it grants them a channel (0: never). */
  afterMessages: number;
  /** Bytes of each ring of a granted channel (a power of two). */
  ringBytes: number;
  /** Channels one connection may hold at once. */
  maxPeers: number;
  /** Channel ends one process may hold at once, over all its connections (each costs it fds and mappings). */
  maxPerProcess: number;
}

export const DEFAULT_DIRECT: DirectSettings = { afterMessages: 4, ringBytes: 1 << 20, maxPeers: 64, maxPerProcess: 256 };
