// Authentication as clients really send it, over a socket, on fastbus and on
// dbus-daemon: the whole exchange and the Hello in one write (as sd-bus does),
// and one byte per write (the bus reads as bytes come). Either way the bus
// answers OK, AGREE_UNIX_FD and then the Hello, whose reply is the client's name.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { decodeMessage, encodeMessage, frameLength, MessageType } from '../src/wire/index.js';
import { startBus, type BusKind } from './fixtures/bus.js';

const uidHex = Buffer.from(String(process.getuid?.() ?? 0)).toString('hex');
const HANDSHAKE = `\0AUTH EXTERNAL ${uidHex}\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n`;
const HELLO = encodeMessage({
  type: MessageType.METHOD_CALL, flags: 0, serial: 1, destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus',
  interface: 'org.freedesktop.DBus', member: 'Hello', body: [],
});

/** Writes `chunks` one after the other (each once the previous one is written); resolves with the SASL lines and the Hello reply. */
async function helloIn(address: string, chunks: Uint8Array[]): Promise<{ lines: string[]; name: unknown }> {
  const socket = net.connect(/unix:path=([^,;]+)/.exec(address)![1]);
  try {
    let received = Buffer.alloc(0);
    const reply = new Promise<{ lines: string[]; name: unknown }>((resolve, reject) => {
      socket.on('error', reject);
      socket.on('close', () => reject(new Error(`closed by the bus after ${JSON.stringify(received.toString('latin1'))}`)));
      socket.on('data', (d: Buffer) => {
        received = Buffer.concat([received, d]);
        const text = received.toString('latin1');
        const end = text.indexOf('AGREE_UNIX_FD\r\n');
        if (end < 0) return;
        const frame = received.subarray(end + 'AGREE_UNIX_FD\r\n'.length);
        if (frame.length < 16 || frame.length < frameLength(frame)) return;
        const m = decodeMessage(frame.subarray(0, frameLength(frame)));
        resolve({ lines: text.slice(0, end + 'AGREE_UNIX_FD\r\n'.length).split('\r\n').filter((l) => l !== ''), name: m.type === MessageType.METHOD_RETURN ? m.body[0] : m.errorName });
      });
    });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    for (const c of chunks) await new Promise<void>((resolve, reject) => socket.write(c, (e) => (e ? reject(e) : resolve())));
    return await reply;
  } finally {
    socket.destroy();
  }
}

for (const kind of ['fastbus', 'dbus-daemon'] as BusKind[]) {
  describe(`authentication on ${kind}`, { timeout: 30000 }, () => {
    it('answers the exchange and the Hello sent in one write', async () => {
      const bus = await startBus(kind);
      try {
        const r = await helloIn(bus.address, [Buffer.concat([Buffer.from(HANDSHAKE, 'latin1'), HELLO])]);
        assert.match(r.lines[0], /^OK [0-9a-f]{32}$/);
        assert.deepEqual(r.lines.slice(1), ['AGREE_UNIX_FD']);
        assert.match(String(r.name), /^:1\.\d+$/);
      } finally {
        await bus.stop();
      }
    });

    it('answers the exchange and the Hello sent one byte per write', async () => {
      const bus = await startBus(kind);
      try {
        const all = Buffer.concat([Buffer.from(HANDSHAKE, 'latin1'), HELLO]);
        const r = await helloIn(bus.address, [...all].map((b) => Uint8Array.of(b)));
        assert.match(r.lines[0], /^OK [0-9a-f]{32}$/);
        assert.match(String(r.name), /^:1\.\d+$/);
      } finally {
        await bus.stop();
      }
    });
  });
}
