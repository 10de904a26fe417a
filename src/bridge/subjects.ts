// NATS subjects of a bridged fleet (docs/bridge.md): calls to a well-known
// name go to `PREFIX.call.NAME`, served by a queue group of the bridges that
// export NAME; NAME's signals are published on `PREFIX.signal.NAME`. The
// name's dots become subject tokens, so `PREFIX.signal.>` watches everything.
import { checkBusName } from '../names/index.js';
import { BridgeOptionsError } from './bridge-options-error.js';

/** The default subject prefix. */
export const DEFAULT_PREFIX = 'fastbus';
/** The queue group every exporting bridge joins on a call subject. */
export const EXPORT_QUEUE = 'fastbus-bridge';

/** Throws a BridgeOptionsError unless `prefix` is one or more NATS subject tokens without wildcards. */
export function checkPrefix(prefix: string): string {
  const tokens = prefix.split('.');
  if (prefix === '' || tokens.some((t) => t === '' || /[\s*>]/.test(t))) {
    throw new BridgeOptionsError(`bridge: subject prefix '${prefix}' must be dot-separated tokens without spaces, '*' or '>'`);
  }
  return prefix;
}

/** Throws a BridgeOptionsError unless `name` is a well-known bus name (unique names mean nothing on another bus). */
export function checkBridgedName(name: string): string {
  const rule = typeof name === 'string' && !name.startsWith(':') ? checkBusName(name, 'well-known') : 'is not a well-known bus name';
  if (rule !== null) throw new BridgeOptionsError(`bridge: '${String(name)}' ${rule}`);
  if (name === 'org.freedesktop.DBus') throw new BridgeOptionsError('bridge: org.freedesktop.DBus is each bus\'s own and cannot be bridged');
  return name;
}

/** The subject of calls to `name`. */
export function callSubject(prefix: string, name: string): string {
  return `${prefix}.call.${name}`;
}

/** The subject of `name`'s signals. */
export function signalSubject(prefix: string, name: string): string {
  return `${prefix}.signal.${name}`;
}
