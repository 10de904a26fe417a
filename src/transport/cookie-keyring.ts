// The DBUS_COOKIE_SHA1 keyring (D-Bus specification, "DBUS_COOKIE_SHA1"):
// ~/.dbus-keyrings/<context> holds lines "<id> <created unix time> <hex
// secret>" readable only by the user. The server picks a fresh cookie (less
// than five minutes old), adding one when there is none; clients of the same
// user read the same file to prove who they are.
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from '../util/random-bytes.js';

/** The context every implementation uses. */
export const COOKIE_CONTEXT = 'org_freedesktop_general';
const MAX_AGE_S = 5 * 60;
const MIN_REUSE_S = 5 * 60 - 30;

/** One cookie of the keyring. */
export interface Cookie {
  context: string;
  id: string;
  secret: string;
}

function keyringDir(): string {
  return path.join(process.env.HOME || os.homedir(), '.dbus-keyrings');
}

function parse(text: string): Array<{ id: string; created: number; secret: string }> {
  const out = [];
  for (const line of text.split('\n')) {
    const [id, created, secret] = line.trim().split(' ');
    if (/^\d+$/.test(id ?? '') && /^\d+$/.test(created ?? '') && /^[0-9a-f]+$/.test(secret ?? '')) out.push({ id, created: Number(created), secret });
  }
  return out;
}

/** Reads the cookie with `id` from the keyring (what a client does). */
export function findCookie(context: string, id: string): string | undefined {
  try {
    return parse(readFileSync(path.join(keyringDir(), context), 'utf8')).find((c) => c.id === id)?.secret;
  } catch {
    return undefined;
  }
}

/** A cookie young enough to hand out, creating the keyring or a new cookie when needed (what a server does). */
export function currentCookie(context = COOKIE_CONTEXT): Cookie {
  const dir = keyringDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700);
  const file = path.join(dir, context);
  const now = Math.floor(Date.now() / 1000);
  let cookies: ReturnType<typeof parse> = [];
  try {
    cookies = parse(readFileSync(file, 'utf8'));
  } catch {
    // no keyring yet
  }
  cookies = cookies.filter((c) => now - c.created < MAX_AGE_S && c.created <= now + 60);
  const fresh = cookies.find((c) => now - c.created < MIN_REUSE_S);
  if (fresh) return { context, id: fresh.id, secret: fresh.secret };
  const ids = new Set(cookies.map((c) => c.id));
  let id: string;
  do id = String(randomBytes(4).readUInt32LE(0) & 0x7fffffff); while (ids.has(id));
  const cookie = { id, created: now, secret: randomBytes(24).toString('hex') };
  cookies.push(cookie);
  // Write under the lock file other implementations also use, then rename into place.
  const lock = `${file}.lock`;
  let fd = -1;
  try {
    fd = openSync(lock, 'wx', 0o600);
  } catch {
    // someone else holds it: write anyway, the rename is atomic
  }
  try {
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, cookies.map((c) => `${c.id} ${c.created} ${c.secret}\n`).join(''), { mode: 0o600 });
    renameSync(tmp, file);
  } finally {
    if (fd >= 0) {
      closeSync(fd);
      unlinkSync(lock);
    }
  }
  return { context, id, secret: cookie.secret };
}
