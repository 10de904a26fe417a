// GetConnectionCredentials on a fastbus bus: ProcessFD is a pidfd of the
// peer's process (checked through /proc/self/fdinfo), given only to callers
// that negotiated unix fds; dbus-python gets its own. (dbus-daemon 1.14, the
// reference here, has no ProcessFD, so this runs on fastbus only.) Over tcp,
// both buses answer the same: ProcessID 0 (dbus-daemon's answer for a socket
// without SO_PEERCRED) and the uid only when DBUS_COOKIE_SHA1 proved one.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as native from '../src/native/native.js';
import { MessageType, type Variant } from '../src/wire/index.js';
import { ANONYMOUS_TCP_CONFIG, FIXTURES, run, startBus, type BusKind, type TestBus } from './fixtures/bus.js';
import { DBUS, raw } from './fixtures/raw-client.js';

function pidOfPidfd(fd: number): number {
  const line = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').split('\n').find((l) => l.startsWith('Pid:'));
  return Number(line?.split(/\s+/)[1]);
}

describe('GetConnectionCredentials on fastbus', { timeout: 30000 }, () => {
  let bus: TestBus;
  before(async () => {
    bus = await startBus('fastbus');
  });
  after(async () => {
    await bus?.stop();
  });

  it('gives a pidfd of the peer as ProcessFD to callers with unix fds, and none to callers without', async () => {
    const py = spawn('/usr/bin/python3', [path.join(FIXTURES, 'py-credentials.py')], { env: bus.env, stdio: ['pipe', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      py.once('exit', (code) => reject(new Error(`py-credentials.py exited with ${code}`)));
      py.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
      });
    });
    const own = JSON.parse(line) as { name: string; pid: number; processIdField: number; fdPid: number };
    assert.equal(own.processIdField, own.pid);
    assert.equal(own.fdPid, own.pid, 'dbus-python got a pidfd of itself');

    const withFds = await raw(bus.address);
    const reply = await withFds.call({ ...DBUS, member: 'GetConnectionCredentials', signature: 's', body: [own.name] });
    assert.equal(reply.type, MessageType.METHOD_RETURN);
    const creds = reply.body[0] as Map<string, Variant>;
    assert.equal(creds.get('ProcessFD')?.signature, 'h');
    assert.equal(reply.fds?.length, 1);
    const fd = reply.fds![creds.get('ProcessFD')!.value as number];
    assert.equal(pidOfPidfd(fd), py.pid);
    native.fdClose(fd);

    const noFds = await raw(bus.address, { unixFd: false });
    const plain = await noFds.call({ ...DBUS, member: 'GetConnectionCredentials', signature: 's', body: [own.name] });
    const plainCreds = plain.body[0] as Map<string, Variant>;
    assert.equal(plainCreds.has('ProcessFD'), false);
    assert.equal(plainCreds.get('ProcessID')?.value, py.pid);
    assert.equal(plain.unixFds ?? 0, 0);

    const exited = new Promise((r) => py.once('exit', r));
    py.stdin!.end();
    await exited;
    for (const c of [withFds, noFds]) c.stream.close();
  });
});

const COOKIE_TCP_CONFIG = `<busconfig><type>session</type><listen>tcp:host=127.0.0.1,port=0</listen>
  <policy context="default"><allow send_destination="*"/><allow receive_sender="*"/><allow own="*"/></policy></busconfig>`;

for (const kind of ['fastbus', 'dbus-daemon'] as BusKind[]) {
  describe(`credentials over tcp on ${kind}`, { timeout: 30000 }, () => {
    /** What dbus-python, connected over tcp, hears of itself from the bus. */
    const ownCredentials = async (config: string): Promise<{ name: string; answers: Record<string, unknown> }> => {
      const bus = await startBus(kind, config, false);
      try {
        const out = JSON.parse(await run(bus, '/usr/bin/python3', [path.join(FIXTURES, 'py-own-credentials.py')])) as { name: string; answers: Record<string, unknown> };
        assert.match(out.name, /^:1\.\d+$/);
        return out;
      } finally {
        await bus.stop();
      }
    };

    it('reports ProcessID 0 and no user for an ANONYMOUS tcp connection', async () => {
      const { name, answers } = await ownCredentials(ANONYMOUS_TCP_CONFIG);
      assert.deepEqual(answers, {
        GetConnectionCredentials: { ProcessID: 0 },
        GetConnectionUnixProcessID: 0,
        GetConnectionUnixUser: `org.freedesktop.DBus.Error.Failed: Could not determine UID for '${name}'`,
      });
    });

    it('reports ProcessID 0 and the uid DBUS_COOKIE_SHA1 proved for a tcp connection', async () => {
      const uid = process.getuid!();
      const { answers } = await ownCredentials(COOKIE_TCP_CONFIG);
      assert.deepEqual(answers, {
        GetConnectionCredentials: { ProcessID: 0, UnixUserID: uid },
        GetConnectionUnixProcessID: 0,
        GetConnectionUnixUser: uid,
      });
    });
  });
}
