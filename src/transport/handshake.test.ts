// The switch from the SASL exchange to messages must lose no byte, however the
// bytes after BEGIN are split across reads (DBUS-NOTES: clients send the whole
// exchange and their first message in one write).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import * as native from '../native/native.js';
import { authenticateServer } from './handshake.js';
import { newGuid } from './sasl-server.js';
import { UnixStream } from './unix-stream.js';
import { frame, socketPair } from '../../test/fixtures/frames.js';

it('keeps every message that follows BEGIN when they span several reads of the handshake', { timeout: 10000 }, async () => {
  const fds = socketPair();
  const uid = process.getuid!();
  const hexUid = Buffer.from(String(uid)).toString('hex');
  // The whole exchange and two messages larger than one raw read, in one write.
  const first = frame(1, 6000);
  const second = frame(2, 100);
  const bytes = Buffer.concat([Buffer.from(`\0AUTH EXTERNAL ${hexUid}\r\nBEGIN\r\n`, 'latin1'), first, second]);
  assert.equal(native.sockSend(fds[1], [bytes], null), bytes.length);
  const server = new UnixStream(fds[0]);
  await authenticateServer(server, { guid: newGuid(), peerUid: uid, allowUid: (u) => u === uid, allowAnonymous: false, unixFdCapable: true });
  const got: Uint8Array[] = [];
  const done = new Promise<void>((resolve) => {
    server.onMessage = (f) => { got.push(f.slice()); if (got.length === 2) resolve(); };
  });
  server.resume();
  await done;
  assert.deepEqual(got.map((f) => f.length), [first.length, second.length]);
  assert.deepEqual(Buffer.from(got[0]), Buffer.from(first));
  server.close();
  native.fdClose(fds[1]);
});
