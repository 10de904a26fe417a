// fastbus/bridge: joins a bus (fastbus, dbus-daemon, dbus-broker) to a NATS
// server or cluster: exported names served through queue groups, imported
// names owned locally, signals as subjects, bodies as D-Bus wire bytes. The
// only part of fastbus that loads the `nats` client. See docs/bridge.md.
export { startBridge, BridgeConnectError, type Bridge, type BridgeOptions } from './bridge.js';
export { BridgeOptionsError } from './bridge-options-error.js';
export { natsSettingsFromEnv, mergeNatsSettings, natsConnectionOptions, type NatsSettings } from './nats-settings.js';
export { callSubject, signalSubject, checkPrefix, checkBridgedName, DEFAULT_PREFIX, EXPORT_QUEUE } from './subjects.js';
export { readBridgeConfig, resolveBridgeOptions } from './bridge-config.js';
