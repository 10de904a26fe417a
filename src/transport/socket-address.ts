// Turns a parsed unix bus address into socket address bytes (a leading NUL
// byte names an abstract socket), and picks paths for unix:dir=/tmpdir=.
import path from 'node:path';
import { randomBytes } from '../util/random-bytes.js';
import { BusAddressError, type BusAddress } from './bus-address.js';

/** sun_path holds 108 bytes. */
const MAX_SUN_PATH = 108;

/** The bytes for bind/connect of a unix address with path= or abstract=. */
export function unixSocketBytes(a: BusAddress): Uint8Array {
  const p = a.params;
  let bytes: Buffer;
  if (p.path !== undefined) bytes = Buffer.from(p.path, 'utf8');
  else if (p.abstract !== undefined) bytes = Buffer.concat([Buffer.from([0]), Buffer.from(p.abstract, 'utf8')]);
  else if (p.runtime === 'yes') {
    const dir = process.env.XDG_RUNTIME_DIR;
    if (!dir) throw new BusAddressError('unix:runtime=yes needs XDG_RUNTIME_DIR');
    bytes = Buffer.from(path.join(dir, 'bus'), 'utf8');
  } else throw new BusAddressError(`unix address needs path= or abstract= to connect (got ${Object.keys(p).join(', ')})`);
  if (bytes.length === 0 || bytes.length > MAX_SUN_PATH - 1) {
    throw new BusAddressError(`unix socket name of ${bytes.length} bytes does not fit sun_path (max ${MAX_SUN_PATH - 1})`);
  }
  return bytes;
}

/** For listening: resolves dir=/tmpdir= to a fresh path= address; other addresses pass through. */
export function resolveListenAddress(a: BusAddress): BusAddress {
  const p = a.params;
  const dir = p.dir ?? p.tmpdir;
  if (dir === undefined) return a;
  const params: Record<string, string> = { path: path.join(dir, `dbus-${randomBytes(8).toString('hex')}`) };
  return { transport: 'unix', params };
}
