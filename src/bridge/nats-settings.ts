// How a bridge reaches NATS: servers, credentials (user/password, token, nkey
// seed, creds file), TLS. Gathered from a small JSON config file, the
// environment (the `nats` command's variable names) and explicit settings, in
// that order of rising precedence; turned into the nats client's options.
import { readFileSync } from 'node:fs';
import { credsAuthenticator, nkeyAuthenticator, type ConnectionOptions } from 'nats';
import { BridgeOptionsError } from './bridge-options-error.js';

/** The NATS side of a bridge. */
export interface NatsSettings {
  /** Server URLs (`nats://host:port`, `tls://host:port`, `host:port`); the client learns the rest of a cluster from them. Default `nats://127.0.0.1:4222`. */
  servers?: string[];
  user?: string;
  password?: string;
  token?: string;
  /** A file holding an nkey seed (`SU...`). */
  nkeyFile?: string;
  /** A credentials file (JWT and nkey seed), as `nsc` makes them. */
  credsFile?: string;
  /** Require TLS (also implied by any of the files below). */
  tls?: boolean;
  /** CA certificates to verify the server with (PEM). */
  caFile?: string;
  /** Client certificate and key (PEM), for servers that verify clients. */
  certFile?: string;
  keyFile?: string;
}

/** The settings the environment gives: NATS_URL (comma-separated), NATS_USER, NATS_PASSWORD, NATS_TOKEN, NATS_NKEY, NATS_CREDS, NATS_CA, NATS_CERT, NATS_KEY. */
export function natsSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): NatsSettings {
  const s: NatsSettings = {};
  if (env.NATS_URL) s.servers = env.NATS_URL.split(',').map((u) => u.trim()).filter((u) => u !== '');
  if (env.NATS_USER) s.user = env.NATS_USER;
  if (env.NATS_PASSWORD) s.password = env.NATS_PASSWORD;
  if (env.NATS_TOKEN) s.token = env.NATS_TOKEN;
  if (env.NATS_NKEY) s.nkeyFile = env.NATS_NKEY;
  if (env.NATS_CREDS) s.credsFile = env.NATS_CREDS;
  if (env.NATS_CA) s.caFile = env.NATS_CA;
  if (env.NATS_CERT) s.certFile = env.NATS_CERT;
  if (env.NATS_KEY) s.keyFile = env.NATS_KEY;
  return s;
}

/** `a` overridden by whatever `b` sets. */
export function mergeNatsSettings(a: NatsSettings, b: NatsSettings): NatsSettings {
  const out: NatsSettings = { ...a };
  for (const [k, v] of Object.entries(b)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/** The nats client's connection options for `s` (reads the key and credentials files now). */
export function natsConnectionOptions(s: NatsSettings, name: string): ConnectionOptions {
  const o: ConnectionOptions = {
    servers: s.servers?.length ? s.servers : ['nats://127.0.0.1:4222'],
    name,
    // A bridge outlives server restarts: it reconnects forever, to any server of the cluster.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: false,
  };
  if (s.user !== undefined) o.user = s.user;
  if (s.password !== undefined) o.pass = s.password;
  if (s.token !== undefined) o.token = s.token;
  if (s.nkeyFile !== undefined && s.credsFile !== undefined) throw new BridgeOptionsError('bridge: give an nkey seed file or a creds file, not both');
  if (s.nkeyFile !== undefined) o.authenticator = nkeyAuthenticator(new TextEncoder().encode(readFileSync(s.nkeyFile, 'utf8').trim()));
  if (s.credsFile !== undefined) o.authenticator = credsAuthenticator(readFileSync(s.credsFile));
  if (s.tls || s.caFile !== undefined || s.certFile !== undefined || s.keyFile !== undefined) {
    o.tls = {};
    if (s.caFile !== undefined) o.tls.caFile = s.caFile;
    if (s.certFile !== undefined) o.tls.certFile = s.certFile;
    if (s.keyFile !== undefined) o.tls.keyFile = s.keyFile;
  }
  return o;
}
