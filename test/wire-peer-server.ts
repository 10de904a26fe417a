// A minimal D-Bus peer for interop tests of the wire layer: a unix-socket
// server that accepts SASL EXTERNAL (without fd passing) from libdbus-based
// clients (python3-dbus, dbus-send --peer) and then hands each complete
// message, cut with frameLength, to the test with a way to write bytes back.
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { frameLength } from '../src/wire/index.js';

export interface PeerServer {
  address: string;
  close(): void;
}

export async function startPeerServer(onMessage: (bytes: Buffer, write: (b: Uint8Array) => void) => void, onError: (e: Error) => void): Promise<PeerServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fastbus-wire-'));
  const sockPath = path.join(dir, 'peer');
  const server = net.createServer((sock) => {
    let authed = false;
    let buf = Buffer.alloc(0);
    const write = (b: Uint8Array) => sock.write(b);
    sock.on('error', onError);
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      try {
        while (!authed) {
          if (buf[0] === 0) buf = buf.subarray(1);
          const eol = buf.indexOf('\r\n');
          if (eol < 0) return;
          const line = buf.subarray(0, eol).toString('latin1');
          buf = buf.subarray(eol + 2);
          if (line.startsWith('AUTH EXTERNAL') || line.startsWith('DATA')) sock.write('OK 0123456789abcdef0123456789abcdef\r\n');
          else if (line.startsWith('AUTH')) sock.write('REJECTED EXTERNAL\r\n');
          else if (line === 'BEGIN') authed = true;
          else sock.write('ERROR\r\n');
        }
        for (;;) {
          const n = frameLength(buf);
          if (n < 0 || n > buf.length) return;
          const msg = Buffer.from(buf.subarray(0, n));
          buf = buf.subarray(n);
          onMessage(msg, write);
        }
      } catch (e) {
        onError(e as Error);
        sock.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(sockPath, resolve));
  return {
    address: `unix:path=${sockPath}`,
    close() {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
