// The listening socket file, on fastbus and on dbus-daemon: mode 0777
// whatever the umask of the process that started the bus (who may connect is
// for authentication and policy to decide), so that another user can
// connect() to a bus root started and be let in by <allow user="*"/>.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, statSync } from 'node:fs';
import path from 'node:path';
import { startBus, type BusKind, type TestBus } from './fixtures/bus.js';
import { NOBODY } from './fixtures/other-uid.js';

const CONFIG = `<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen>
  <policy context="default"><allow user="*"/><allow send_destination="*"/><allow receive_sender="*"/><allow own="*"/></policy>
</busconfig>`;

/** A bus started under `umask` (the bus process inherits it). */
async function startUnder(kind: BusKind, umask: number): Promise<TestBus> {
  const old = process.umask(umask);
  try {
    return await startBus(kind, CONFIG);
  } finally {
    process.umask(old);
  }
}

/** dbus-send as uid 65534: asks the bus who owns org.freedesktop.DBus. */
function askAsNobody(address: string): Promise<{ error: Error | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('dbus-send', [`--bus=${address}`, '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.GetNameOwner', 'string:org.freedesktop.DBus'],
      { ...NOBODY, cwd: '/', timeout: 20_000 }, (error, stdout, stderr) => resolve({ error, stdout, stderr }));
  });
}

for (const kind of ['fastbus', 'dbus-daemon'] as BusKind[]) {
  describe(`the socket file of ${kind}`, { timeout: 30_000 }, () => {
    for (const umask of [0o077, 0o022]) {
      it(`is mode 0777 when the bus starts under umask 0${umask.toString(8)}`, async (t) => {
        const bus = await startUnder(kind, umask);
        t.after(() => bus.stop());
        const socket = path.join(bus.dir, 'bus');
        const st = statSync(socket);
        assert.ok(st.isSocket());
        assert.equal((st.mode & 0o777).toString(8), '777');
      });
    }

    it('lets another user connect to a bus root started under umask 077, and <allow user="*"/> admits it', { skip: process.getuid?.() !== 0 && 'needs root to start a bus and a client of another uid' }, async (t) => {
      const bus = await startUnder(kind, 0o077);
      t.after(() => bus.stop());
      chmodSync(bus.dir, 0o755); // the test's own directory (0700 from mkdtemp) is not what is tested
      for (let d = path.dirname(bus.dir); d !== '/'; d = path.dirname(d)) {
        if ((statSync(d).mode & 0o001) === 0) return t.skip(`uid 65534 cannot enter ${d}, where the test's sockets are`);
      }
      const r = await askAsNobody(bus.address);
      assert.equal(r.error, null, `dbus-send as uid 65534 failed: ${r.stderr}`);
      assert.match(r.stdout, /^ {3}string "org\.freedesktop\.DBus"$/m);
    });
  });
}
