// A bridge's settings from a small JSON file, the environment and explicit
// options (flags), in that order of rising precedence. The file:
//   { "bus": "unix:path=/run/user/1000/bus", "prefix": "fastbus", "timeoutMs": 25000,
//     "export": ["org.example.Svc"], "import": ["org.example.Other"],
//     "nats": { "servers": ["nats://a:4222"], "user": "u", "password": "p", ... } }
import { readFileSync } from 'node:fs';
import type { BridgeOptions } from './bridge.js';
import { mergeNatsSettings, natsSettingsFromEnv, type NatsSettings } from './nats-settings.js';

const FILE_KEYS = new Set(['bus', 'prefix', 'timeoutMs', 'export', 'import', 'nats']);
const NATS_KEYS = new Set(['servers', 'user', 'password', 'token', 'nkeyFile', 'credsFile', 'tls', 'caFile', 'certFile', 'keyFile']);

/** Reads a bridge config file; throws an Error naming the file and the bad key. */
export function readBridgeConfig(file: string): BridgeOptions {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`bridge config ${file}: ${(e as Error).message}`);
  }
  const bad = (what: string): Error => new Error(`bridge config ${file}: ${what}`);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw bad('expected a JSON object');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!FILE_KEYS.has(k)) throw bad(`unknown key '${k}' (known: ${[...FILE_KEYS].join(', ')})`);
  const strings = (k: string, v: unknown): string[] => {
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(`'${k}' must be an array of strings`);
    return v as string[];
  };
  const out: BridgeOptions = {};
  if (o.bus !== undefined) out.bus = String(o.bus);
  if (o.prefix !== undefined) out.prefix = String(o.prefix);
  if (o.timeoutMs !== undefined) {
    if (typeof o.timeoutMs !== 'number' || !(o.timeoutMs > 0)) throw bad("'timeoutMs' must be a positive number");
    out.timeoutMs = o.timeoutMs;
  }
  if (o.export !== undefined) out.exports = strings('export', o.export);
  if (o.import !== undefined) out.imports = strings('import', o.import);
  if (o.nats !== undefined) {
    if (o.nats === null || typeof o.nats !== 'object' || Array.isArray(o.nats)) throw bad("'nats' must be an object");
    const n = o.nats as Record<string, unknown>;
    for (const k of Object.keys(n)) if (!NATS_KEYS.has(k)) throw bad(`unknown key 'nats.${k}' (known: ${[...NATS_KEYS].join(', ')})`);
    const s: NatsSettings = {};
    if (n.servers !== undefined) s.servers = strings('nats.servers', n.servers);
    for (const k of ['user', 'password', 'token', 'nkeyFile', 'credsFile', 'caFile', 'certFile', 'keyFile'] as const) {
      if (n[k] !== undefined) {
        if (typeof n[k] !== 'string') throw bad(`'nats.${k}' must be a string`);
        s[k] = n[k] as string;
      }
    }
    if (n.tls !== undefined) s.tls = n.tls === true;
    out.nats = s;
  }
  return out;
}

/**
 * The options a bridge runs with: the config file's (if any), then the
 * environment's (FASTBUS_BRIDGE_PREFIX and the NATS_* variables), then `given`.
 * Names to export and import add up across all three.
 */
export function resolveBridgeOptions(given: BridgeOptions, file?: string, env: NodeJS.ProcessEnv = process.env): BridgeOptions {
  const f = file !== undefined ? readBridgeConfig(file) : {};
  const out: BridgeOptions = { ...f };
  if (env.FASTBUS_BRIDGE_PREFIX) out.prefix = env.FASTBUS_BRIDGE_PREFIX;
  for (const [k, v] of Object.entries(given)) if (v !== undefined && k !== 'nats' && k !== 'exports' && k !== 'imports') (out as Record<string, unknown>)[k] = v;
  out.nats = mergeNatsSettings(mergeNatsSettings(f.nats ?? {}, natsSettingsFromEnv(env)), given.nats ?? {});
  out.exports = [...(f.exports ?? []), ...(given.exports ?? [])];
  out.imports = [...(f.imports ?? []), ...(given.imports ?? [])];
  return out;
}
