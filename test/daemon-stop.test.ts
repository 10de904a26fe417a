// SIGTERM stops a bus at once, whatever its clients are doing: one that has
// not finished authenticating, one that authenticated and never said Hello,
// one that stopped in the middle of a message, and one with a name. The same
// scenario runs against dbus-daemon. (fastbus daemon used to close only the
// connections that had said Hello, and stayed up while the others did.)
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startBus, type BusKind } from './fixtures/bus.js';
import { raw } from './fixtures/raw-client.js';

/** A socket to the bus's unix path that sends `bytes` and then nothing, and resolves once it is closed. */
async function stalled(address: string, bytes: Buffer, sockets: net.Socket[]): Promise<{ closed: Promise<void> }> {
  const sock = /unix:path=([^,]+)/.exec(address)![1];
  const s = net.connect(sock);
  sockets.push(s);
  await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
  s.on('error', () => undefined);
  s.resume();
  s.write(bytes);
  return { closed: new Promise<void>((resolve) => s.once('close', () => resolve())) };
}

for (const kind of ['fastbus', 'dbus-daemon'] as BusKind[]) {
  describe(`SIGTERM on ${kind}`, { timeout: 30000 }, () => {
    // If the bus does not stop, the test times out: nothing of it may keep this file's process up.
    const sockets: net.Socket[] = [];
    let busPid = 0;
    after(() => {
      for (const s of sockets) s.destroy();
      try {
        if (busPid) process.kill(busPid, 'SIGKILL');
      } catch {
        // Gone already, as it should be.
      }
    });
    it('stops the bus and closes every connection, complete or not', async () => {
      const bus = await startBus(kind, '<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen><policy context="default"><allow send_destination="*"/><allow receive_sender="*"/><allow own="*"/></policy></busconfig>');
      busPid = bus.pid;
      const uidHex = Buffer.from(String(process.getuid!())).toString('hex');
      const midAuth = await stalled(bus.address, Buffer.from('\0AUTH EXTERNAL '), sockets);
      // Authenticated, then half of a message's fixed header, and no Hello.
      const midMessage = await stalled(bus.address, Buffer.concat([Buffer.from(`\0AUTH EXTERNAL ${uidHex}\r\nBEGIN\r\n`), Buffer.from([0x6c, 1, 0, 1, 100, 0])]), sockets);
      const noHello = await raw(bus.address, { hello: false });
      const named = await raw(bus.address);
      after(() => {
        noHello.stream.close();
        named.stream.close();
      });
      assert.equal(noHello.isClosed() || named.isClosed(), false);
      // stop() sends SIGTERM and waits for the process to exit.
      await bus.stop();
      await Promise.all([midAuth.closed, midMessage.closed, noHello.closed, named.closed]);
    });
  });
}
