// Service activation and transports beyond the default, on fastbus and on
// dbus-daemon with the same config: StartServiceByName and auto-start from a
// .service file, UpdateActivationEnvironment, a failed start's error, tcp buses with ANONYMOUS and with
// DBUS_COOKIE_SHA1, and fastbus started by systemd socket activation.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ANONYMOUS_TCP_CONFIG, CLI, FIXTURES, run, start, startBus, type BusKind, type TestBus } from './fixtures/bus.js';

const PY = '/usr/bin/python3';

for (const kind of ['fastbus', 'dbus-daemon'] as BusKind[]) {
  describe(`activation on ${kind}`, { timeout: 60000 }, () => {
    let bus: TestBus;
    const dir = path.join('/tmp', `fastbus-activation-${kind}-${process.pid}`);
    before(async () => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'org.fastbus.Activated.service'),
        `[D-BUS Service]\nName=org.fastbus.Activated\nExec=${PY} ${path.join(FIXTURES, 'py-service.py')} org.fastbus.Activated\n`);
      writeFileSync(path.join(dir, 'org.fastbus.Broken.service'), '[D-BUS Service]\nName=org.fastbus.Broken\nExec=/bin/false\n');
      // Writes the variable UpdateActivationEnvironment set, then serves (the same Exec line works on both buses).
      writeFileSync(path.join(dir, 'org.fastbus.Env.service'), `[D-BUS Service]\nName=org.fastbus.Env\nExec=/bin/sh -c 'printf %s "$FASTBUS_ACTIVATION_X" > ${dir}/env.out; exec ${PY} ${path.join(FIXTURES, 'py-service.py')} org.fastbus.Env'\n`);
      bus = await startBus(kind, `<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen><servicedir>${dir}</servicedir>
        <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>`);
    });
    after(async () => {
      for (const name of ['org.fastbus.Activated', 'org.fastbus.Env']) {
        await run(bus, 'dbus-send', ['--session', `--dest=${name}`, '/org/fastbus/Test', 'org.fastbus.Test.Quit']).catch(() => undefined);
      }
      await bus?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('lists activatable names and starts a service by auto-start on the first call', { timeout: 30000 }, async () => {
      const names = await run(bus, 'busctl', ['--user', 'call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'ListActivatableNames']);
      assert.match(names, /"org\.fastbus\.Activated"/);
      const echo = await run(bus, 'gdbus', ['call', '--session', '-d', 'org.fastbus.Activated', '-o', '/org/fastbus/Test', '-m', 'org.fastbus.Test.Echo', 'woken']);
      assert.equal(echo.trim(), "('woken',)");
      const again = await run(bus, 'busctl', ['--user', 'call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'StartServiceByName', 'su', 'org.fastbus.Activated', '0']);
      assert.equal(again.trim(), 'u 2');
    });

    it('starts services with the variables UpdateActivationEnvironment added', { timeout: 30000 }, async () => {
      await run(bus, 'dbus-send', ['--session', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.UpdateActivationEnvironment', 'dict:string:string:FASTBUS_ACTIVATION_X,from-the-bus']);
      const started = await run(bus, 'busctl', ['--user', 'call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'StartServiceByName', 'su', 'org.fastbus.Env', '0']);
      assert.equal(started.trim(), 'u 1');
      assert.equal(readFileSync(path.join(dir, 'env.out'), 'utf8'), 'from-the-bus');
    });

    it('answers a failed start with a Spawn error and an unknown name with ServiceUnknown', { timeout: 30000 }, async () => {
      await assert.rejects(run(bus, 'dbus-send', ['--session', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.StartServiceByName', 'string:org.fastbus.Broken', 'uint32:0']),
        /org\.freedesktop\.DBus\.Error\.Spawn\.ChildExited/);
      await assert.rejects(run(bus, 'dbus-send', ['--session', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.StartServiceByName', 'string:org.fastbus.Nope', 'uint32:0']),
        /org\.freedesktop\.DBus\.Error\.ServiceUnknown/);
    });
  });

  describe(`tcp with ANONYMOUS on ${kind}`, { timeout: 30000 }, () => {
    let bus: TestBus;
    before(async () => {
      bus = await startBus(kind, ANONYMOUS_TCP_CONFIG, false);
    });
    after(async () => bus?.stop());

    it('prints the real port and serves dbus-send over tcp', async () => {
      assert.match(bus.address, /^tcp:host=127\.0\.0\.1,port=[1-9]\d*/);
      const out = await run(bus, 'dbus-send', ['--session', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.ListNames']);
      assert.match(out, /string "org\.freedesktop\.DBus"/);
    });
  });

  describe(`send policy on ${kind}`, { timeout: 30000 }, () => {
    let bus: TestBus;
    let service: ReturnType<typeof start>;
    before(async () => {
      bus = await startBus(kind, `<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen>
        <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/>
          <deny send_destination="org.fastbus.Test" send_interface="org.fastbus.Test" send_member="Refuse"/></policy></busconfig>`);
      service = start(bus, PY, [path.join(FIXTURES, 'py-service.py')]);
      await service.waitFor(/ready/);
    });
    after(async () => {
      await service?.stop();
      await bus?.stop();
    });

    it('refuses a denied call with AccessDenied and lets the others and their replies through', async () => {
      await assert.rejects(run(bus, 'dbus-send', ['--session', '--print-reply', '--dest=org.fastbus.Test', '/org/fastbus/Test', 'org.fastbus.Test.Refuse', 'string:x']),
        /org\.freedesktop\.DBus\.Error\.AccessDenied/);
      const ok = await run(bus, 'dbus-send', ['--session', '--print-reply', '--dest=org.fastbus.Test', '/org/fastbus/Test', 'org.fastbus.Test.Echo', 'string:allowed']);
      assert.match(ok, /string "allowed"/);
    });
  });

  describe(`ReloadConfig on ${kind}`, { timeout: 30000 }, () => {
    let bus: TestBus;
    const policy = (later: 'allow' | 'deny') => `<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen>
      <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/>
        <${later} own="org.fastbus.Later"/></policy></busconfig>`;
    before(async () => {
      bus = await startBus(kind, policy('deny'));
    });
    after(async () => bus?.stop());

    it('applies a changed ownership policy after ReloadConfig', async () => {
      const request = ['--user', 'call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'RequestName', 'su', 'org.fastbus.Later', '0'];
      await assert.rejects(run(bus, 'busctl', request), /not allowed|AccessDenied|Access denied/i);
      writeFileSync(path.join(bus.dir, 'bus.conf'), policy('allow'));
      await run(bus, 'dbus-send', ['--session', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.ReloadConfig']);
      assert.equal((await run(bus, 'busctl', request)).trim(), 'u 1');
    });
  });

  describe(`tcp with DBUS_COOKIE_SHA1 on ${kind}`, { timeout: 30000 }, () => {
    let bus: TestBus;
    before(async () => {
      bus = await startBus(kind, `<busconfig><type>session</type><listen>tcp:host=127.0.0.1,port=0</listen>
        <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>`, false);
    });
    after(async () => bus?.stop());

    it('authenticates a tcp client by the cookie keyring', async () => {
      const out = await run(bus, 'dbus-send', ['--session', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.GetId']);
      assert.match(out, /string "[0-9a-f]{32}"/);
    });
  });
}

describe('dbus-run-session with fastbus as its dbus-daemon', { timeout: 30000 }, () => {
  it('runs a command on a fastbus session bus', async () => {
    const wrapper = path.join(path.dirname(CLI), 'fastbus-dbus-daemon');
    const out = await new Promise<string>((resolve, reject) => {
      execFile('dbus-run-session', [`--dbus-daemon=${wrapper}`, '--', 'busctl', '--user', 'call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.Peer', 'GetMachineId'],
        { timeout: 20000 }, (e, stdout, stderr) => (e ? reject(new Error(`${e.message} ${stderr}`)) : resolve(stdout)));
    });
    assert.match(out, /^s "[0-9a-f]{32}"$/m);
  });
});

describe('fastbus daemon under systemd socket activation', { timeout: 30000 }, () => {
  it('serves clients on the socket it was handed (LISTEN_FDS)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fastbus-activate-'));
    const sock = path.join(dir, 'bus');
    const child = spawn('systemd-socket-activate', ['-l', sock, process.execPath, CLI, 'daemon', '--nofork', '--systemd-activation', '--print-address'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      // systemd-socket-activate says when it listens, then runs the daemon on the first connection.
      await new Promise<void>((resolve) => {
        let said = '';
        const onData = (d: Buffer): void => {
          said += d.toString();
          if (said.includes(`Listening on ${sock}`)) {
            child.stderr!.off('data', onData);
            resolve();
          }
        };
        child.stderr!.on('data', onData);
      });
      const env = { ...process.env, DBUS_SESSION_BUS_ADDRESS: `unix:path=${sock}` };
      const out = await new Promise<string>((resolve, reject) => {
        execFile('busctl', ['--user', 'call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'ListNames'], { env, timeout: 20000 }, (e, stdout, stderr) => (e ? reject(new Error(`${e.message} ${stderr}`)) : resolve(stdout)));
      });
      assert.match(out, /"org\.freedesktop\.DBus"/);
      // The daemon printed the address of the socket it was handed.
      const printed = await new Promise<string>((resolve) => {
        let text = '';
        const check = (): void => (text.includes('\n') ? resolve(text) : undefined);
        child.stdout!.on('data', (d: Buffer) => { text += d.toString(); check(); });
      });
      assert.match(printed, new RegExp(`^unix:path=${sock.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')},guid=[0-9a-f]{32}\n`));
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill();
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
