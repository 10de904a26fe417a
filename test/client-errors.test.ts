// The client's failure paths against real peers: a bad address, a bus that
// refuses our authentication (dbus-daemon allowing only DBUS_COOKIE_SHA1), and
// a fake bus (a plain socket server) that sends a malformed reply or hangs up
// with calls pending. Nothing here may hang or throw outside the promise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { connect, defineInterface, DisconnectedError } from '../src/client/index.js';
import { encodeMessage } from '../src/wire/index.js';
import { ProtocolError, SystemError } from '../src/errors.js';
import { BusAddressError } from '../src/transport/index.js';
import { startDbusDaemon } from './fixtures/dbus-daemon.js';

/** A fake bus: answers the SASL exchange, then hands each message frame to `onMessage`. */
async function fakeBus(onMessage: (socket: net.Socket, frame: Buffer) => void): Promise<{ address: string; close(): void }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fastbus-fake-'));
  const sock = path.join(dir, 'bus');
  const server = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    let authed = false;
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!authed) {
        for (;;) {
          const nl = buf.indexOf('\r\n');
          if (nl < 0) return;
          const line = buf.subarray(0, nl).toString('latin1').replace(/^\0/, '');
          buf = buf.subarray(nl + 2);
          if (line.startsWith('AUTH')) s.write('OK 0123456789abcdef0123456789abcdef\r\n');
          else if (line.startsWith('NEGOTIATE_UNIX_FD')) s.write('ERROR\r\n');
          else if (line === 'BEGIN') {
            authed = true;
            break;
          }
        }
      }
      while (buf.length >= 16) {
        const bodyLen = buf.readUInt32LE(4);
        const fieldsLen = buf.readUInt32LE(12);
        const total = 16 + ((fieldsLen + 7) & ~7) + bodyLen;
        if (buf.length < total) return;
        onMessage(s, buf.subarray(0, total));
        buf = buf.subarray(total);
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(sock, r));
  return {
    address: `unix:path=${sock}`,
    close: () => {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function helloReply(serial: number): Buffer {
  return encodeMessage({ type: 2, flags: 0, serial: 1, replySerial: serial, sender: 'org.freedesktop.DBus', signature: 's', body: [':1.42'] });
}

test('a bad address is a clear error before any socket exists', async () => {
  await assert.rejects(connect('nonsense'), (e: unknown) => e instanceof BusAddressError);
  await assert.rejects(connect('unix:path=/nonexistent/fastbus-test'), (e: unknown) => e instanceof SystemError && e.code === 'ENOENT');
});

test('a bus that refuses our authentication mechanisms makes connect fail with AUTH_REJECTED', { timeout: 20000 }, async () => {
  const daemon = await startDbusDaemon(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><auth>DBUS_COOKIE_SHA1</auth><listen>unix:tmpdir=/tmp</listen>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>`);
  try {
    await assert.rejects(connect(daemon.address), (e: unknown) => e instanceof ProtocolError && e.code === 'AUTH_REJECTED' && /DBUS_COOKIE_SHA1/.test(e.message));
  } finally {
    await daemon.stop();
  }
});

test('authenticates with ANONYMOUS when that is all the bus accepts', { timeout: 20000 }, async () => {
  const daemon = await startDbusDaemon(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><auth>ANONYMOUS</auth><allow_anonymous/><listen>unix:tmpdir=/tmp</listen>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>`);
  try {
    const c = await connect(daemon.address);
    try {
      assert.match(c.uniqueName, /^:1\.\d+$/);
      const [id] = await c.busCall('GetId');
      assert.match(id as string, /^[0-9a-f]{32}$/);
    } finally {
      c.close();
    }
  } finally {
    await daemon.stop();
  }
});

test('a malformed reply closes the connection with a ProtocolError and rejects the pending call', { timeout: 20000 }, async () => {
  const bus = await fakeBus((s, frame) => {
    const serial = frame.readUInt32LE(8);
    const bad = Buffer.from(helloReply(serial));
    // Break the string's terminating NUL: the body is no longer valid.
    bad[bad.length - 1] = 0x58;
    s.write(bad);
  });
  try {
    await assert.rejects(connect(bus.address), (e: unknown) => e instanceof DisconnectedError && e.cause instanceof ProtocolError && /Hello/.test(e.message));
  } finally {
    bus.close();
  }
});

test('a bus that hangs up rejects every pending call with DisconnectedError', { timeout: 20000 }, async () => {
  let sockets: net.Socket[] = [];
  let calls = 0;
  let threeArrived!: () => void;
  const arrived = new Promise<void>((r) => (threeArrived = r));
  const bus = await fakeBus((s, frame) => {
    sockets.push(s);
    const serial = frame.readUInt32LE(8);
    if (serial === 1) s.write(helloReply(serial));
    else if (++calls === 3) threeArrived();
  });
  try {
    const c = await connect(bus.address);
    assert.equal(c.uniqueName, ':1.42');
    const pending = [1, 2, 3].map((i) => c.call({ destination: 'x.y', path: '/', interface: 'x.y', member: `M${i}` }));
    await arrived;
    for (const s of sockets) s.destroy();
    sockets = [];
    for (const p of pending) await assert.rejects(p, (e: unknown) => e instanceof DisconnectedError && /closed by the bus/.test(e.message));
    assert.equal(c.pendingCalls, 0);
  } finally {
    bus.close();
  }
});

test('an unref()ed idle connection does not keep the process alive', { timeout: 20000 }, async () => {
  const daemon = await startDbusDaemon();
  try {
    const script = `import { connect } from ${JSON.stringify(new URL('../src/client/index.js', import.meta.url).href)};
const c = await connect(${JSON.stringify(daemon.address)});
await c.callMethod({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'GetId' });
c.unref();
console.log('idle');`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise((r) => child.once('close', r));
    assert.equal(code, 0);
    assert.equal(out.trim(), 'idle');
  } finally {
    await daemon.stop();
  }
});

test('an unref()ed connection keeps the process alive while a call waits for its reply', { timeout: 20000 }, async () => {
  const daemon = await startDbusDaemon();
  const service = await connect(daemon.address);
  try {
    let answer!: () => void;
    const asked = new Promise<void>((r) => {
      service.export('/', defineInterface({ name: 'x.Hold', methods: { Wait: { out: 's' } } }), {
        Wait: () => new Promise<string>((done) => { answer = () => done('answered'); r(); }),
      });
    });
    const script = `import { connect } from ${JSON.stringify(new URL('../src/client/index.js', import.meta.url).href)};
const c = await connect(${JSON.stringify(daemon.address)});
c.unref();
const [reply] = await c.callMethod({ destination: ${JSON.stringify(service.uniqueName)}, path: '/', interface: 'x.Hold', member: 'Wait' });
console.log(reply);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const closed = new Promise((r) => child.once('close', r));
    // The call is in: had the waiting call not held the process, it would have exited by now or will before the reply.
    await asked;
    answer();
    assert.equal(await closed, 0);
    assert.equal(out.trim(), 'answered');
  } finally {
    service.close();
    await daemon.stop();
  }
});
