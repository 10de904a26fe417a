// Random bytes from the kernel's generator (/dev/urandom, the source behind
// getrandom(2) and OpenSSL's seed), read synchronously. Not node:crypto: its
// first load initialises OpenSSL, about 10 ms of the bus's start-up for a
// 16-byte guid (docs/cli-daemon.md, "Start-up").
import { closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';

/** `sizeBytes` random bytes; from node:crypto where /dev/urandom cannot be opened (a bare chroot). */
export function randomBytes(sizeBytes: number): Buffer {
  let fd: number;
  try {
    fd = openSync('/dev/urandom', 'r');
  } catch {
    return (createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto')).randomBytes(sizeBytes);
  }
  try {
    const out = Buffer.allocUnsafe(sizeBytes);
    for (let got = 0; got < sizeBytes;) got += readSync(fd, out, got, sizeBytes - got, null);
    return out;
  } finally {
    closeSync(fd);
  }
}
