// systemd activation (--systemd-activation) on fastbus and on dbus-daemon with
// the same config, with a stand-in for systemd (py-fake-systemd.py, a real
// process owning org.freedesktop.systemd1): a service whose file names a
// SystemdService= is started by an ActivationRequest to systemd, which may
// join the bus only later; systemd's ActivationFailure fails the waiting call;
// a call the policy refuses is answered AccessDenied and systemd is never
// asked; services without SystemdService= are still spawned; transient
// service files are read from $XDG_RUNTIME_DIR/dbus-1/services.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MessageType } from '../src/wire/index.js';
import { FIXTURES, run, start, startBus, type BusKind, type TestBus } from './fixtures/bus.js';
import { DBUS, raw, type Raw } from './fixtures/raw-client.js';

const PY = '/usr/bin/python3';
const SERVICE = path.join(FIXTURES, 'py-service.py');
const FAKE_SYSTEMD = path.join(FIXTURES, 'py-fake-systemd.py');
const OPEN_POLICY = '<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy>';

type Process = ReturnType<typeof start>;

function serviceFile(dir: string, name: string, exec: string, unit?: string): void {
  writeFileSync(path.join(dir, `${name}.service`), `[D-BUS Service]\nName=${name}\nExec=${exec}\n${unit ? `SystemdService=${unit}\n` : ''}`);
}

/** Sends Echo to `name` through a bare client; resolves with the echoed text or the error name. */
function echo(c: Raw, name: string, text: string): { serial: number; answer: Promise<string> } {
  const serial = c.send({ destination: name, path: '/org/fastbus/Test', interface: 'org.fastbus.Test', member: 'Echo', signature: 's', body: [text] });
  const answer = c.next((m) => m.replySerial === serial).then((r) => (r.type === MessageType.ERROR ? r.errorName! : String(r.body[0])));
  return { serial, answer };
}

/** The fake systemd, which starts `units` (unit -> service name served by py-service.py). */
function fakeSystemd(bus: TestBus, units: Record<string, string>): Process {
  return start(bus, PY, [FAKE_SYSTEMD, ...Object.entries(units).map(([unit, name]) => `${unit}=${PY} ${SERVICE} ${name}`)]);
}

for (const kind of ['fastbus', 'dbus-daemon'] as BusKind[]) {
  describe(`systemd activation on ${kind}`, { timeout: 60000 }, () => {
    let bus: TestBus;
    let systemd: Process;
    let client: Raw;
    const services = mkdtempSync(path.join(tmpdir(), 'fastbus-services-'));
    before(async () => {
      serviceFile(services, 'org.fastbus.Sd', '/bin/false', 'fastbus-sd.service');
      serviceFile(services, 'org.fastbus.SdMissing', '/bin/false', 'fastbus-missing.service');
      serviceFile(services, 'org.fastbus.SdDenied', '/bin/false', 'fastbus-denied.service');
      serviceFile(services, 'org.fastbus.SdAfter', '/bin/false', 'fastbus-after.service');
      serviceFile(services, 'org.fastbus.Spawned', `${PY} ${SERVICE} org.fastbus.Spawned`);
      bus = await startBus(kind, `<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen><servicedir>${services}</servicedir>
        ${OPEN_POLICY}<policy context="default"><deny send_destination="org.fastbus.SdDenied"/></policy></busconfig>`, true, { args: ['--systemd-activation'] });
      systemd = fakeSystemd(bus, {
        'fastbus-sd.service': 'org.fastbus.Sd', 'fastbus-denied.service': 'org.fastbus.SdDenied', 'fastbus-after.service': 'org.fastbus.SdAfter',
      });
      await systemd.waitFor(/systemd-ready/);
      client = await raw(bus.address);
    });
    after(async () => {
      client?.stream.close();
      await systemd?.stop();
      // What systemd started ends with the bus (libdbus leaves when its bus goes).
      await bus?.stop();
      rmSync(services, { recursive: true, force: true });
    });

    it('lists SystemdActivation in Features', async () => {
      const out = await run(bus, 'busctl', ['--user', 'get-property', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'Features']);
      assert.equal(out.trim(), 'as 3 "ActivatableServicesChanged" "HeaderFiltering" "SystemdActivation"');
    });

    it('asks systemd for the SystemdService unit and delivers the call once the name has an owner', async () => {
      const out = await run(bus, 'gdbus', ['call', '--session', '-d', 'org.fastbus.Sd', '-o', '/org/fastbus/Test', '-m', 'org.fastbus.Test.Echo', 'through systemd']);
      assert.equal(out.trim(), "('through systemd',)");
      assert.match(systemd.output(), /^activation-request fastbus-sd\.service$/m);
    });

    it("fails the waiting call with the error of systemd's ActivationFailure", async () => {
      assert.equal(await echo(client, 'org.fastbus.SdMissing', 'x').answer, 'org.freedesktop.systemd1.NoSuchUnit');
      assert.match(systemd.output(), /^activation-request fastbus-missing\.service$/m);
    });

    it('answers AccessDenied to a call the policy refuses and never asks systemd', async () => {
      assert.equal(await echo(client, 'org.fastbus.SdDenied', 'x').answer, 'org.freedesktop.DBus.Error.AccessDenied');
      // Requests reach systemd in order: once a later one has, an earlier one would have too.
      assert.equal(await echo(client, 'org.fastbus.SdAfter', 'after').answer, 'after');
      assert.match(systemd.output(), /^activation-request fastbus-after\.service$/m);
      assert.doesNotMatch(systemd.output(), /fastbus-denied/);
    });

    it('spawns a service without SystemdService= itself', async () => {
      assert.equal(await echo(client, 'org.fastbus.Spawned', 'spawned').answer, 'spawned');
      assert.doesNotMatch(systemd.output(), /org\.fastbus\.Spawned/);
    });
  });

  describe(`systemd activation before systemd is on the bus, on ${kind}`, { timeout: 60000 }, () => {
    let bus: TestBus;
    let systemd: Process | undefined;
    const services = mkdtempSync(path.join(tmpdir(), 'fastbus-services-'));
    before(async () => {
      serviceFile(services, 'org.fastbus.SdLate', '/bin/false', 'fastbus-late.service');
      bus = await startBus(kind, `<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen><servicedir>${services}</servicedir>
        ${OPEN_POLICY}</busconfig>`, true, { args: ['--systemd-activation'] });
    });
    after(async () => {
      await systemd?.stop();
      await bus?.stop();
      rmSync(services, { recursive: true, force: true });
    });

    it('keeps the ActivationRequest until org.freedesktop.systemd1 has an owner, and shows it to monitors when it is made', async () => {
      const monitor = await raw(bus.address);
      const r = await monitor.call({ ...DBUS, interface: 'org.freedesktop.DBus.Monitoring', member: 'BecomeMonitor', signature: 'asu',
        body: [["member='ActivationRequest'", "member='NameOwnerChanged',arg0='org.freedesktop.systemd1'", "member='Marker'"], 0] });
      assert.equal(r.type, MessageType.METHOD_RETURN);
      const c = await raw(bus.address);
      const call = echo(c, 'org.fastbus.SdLate', 'late');
      // The bus handles a connection's messages in order: once GetId is answered, the call waits for activation.
      await c.call({ ...DBUS, member: 'GetId' });
      systemd = fakeSystemd(bus, { 'fastbus-late.service': 'org.fastbus.SdLate' });
      assert.equal(await call.answer, 'late');
      assert.match(systemd.output(), /^activation-request fastbus-late\.service$/m);
      // A broadcast after the answer: once the monitor has it, it has every copy the bus made before.
      c.send({ type: MessageType.SIGNAL, path: '/marker', interface: 'org.fastbus.Test', member: 'Marker' });
      await monitor.next((m) => m.member === 'Marker');
      assert.deepEqual(monitor.inbox.filter((m) => m.member !== 'NameAcquired' && m.member !== 'NameLost').map((m) => m.member),
        ['ActivationRequest', 'NameOwnerChanged']);
      for (const x of [c, monitor]) x.stream.close();
    });
  });

  describe(`transient services on ${kind}`, { timeout: 60000 }, () => {
    let bus: TestBus;
    const runtime = mkdtempSync(path.join(tmpdir(), 'fastbus-runtime-'));
    const transient = path.join(runtime, 'dbus-1', 'services');
    before(async () => {
      bus = await startBus(kind, `<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen><standard_session_servicedirs/>
        ${OPEN_POLICY}</busconfig>`, true, { args: ['--systemd-activation'], env: { ...process.env, XDG_RUNTIME_DIR: runtime } });
    });
    after(async () => {
      await bus?.stop();
      rmSync(runtime, { recursive: true, force: true });
    });

    it('makes $XDG_RUNTIME_DIR/dbus-1/services and starts a service whose file is added there later', async () => {
      assert.ok(existsSync(transient), 'the bus made the transient service directory');
      serviceFile(transient, 'org.fastbus.Transient', `${PY} ${SERVICE} org.fastbus.Transient`);
      const c = await raw(bus.address);
      assert.equal(await echo(c, 'org.fastbus.Transient', 'transient').answer, 'transient');
      c.stream.close();
    });

    it('ignores a transient service file not named after its service', async () => {
      writeFileSync(path.join(transient, 'misnamed.service'), `[D-BUS Service]\nName=org.fastbus.Misnamed\nExec=${PY} ${SERVICE} org.fastbus.Misnamed\n`);
      // A correctly named file written after it activates: the bus has rescanned and seen both.
      serviceFile(transient, 'org.fastbus.Named', `${PY} ${SERVICE} org.fastbus.Named`);
      const c = await raw(bus.address);
      assert.equal(await echo(c, 'org.fastbus.Named', 'named').answer, 'named');
      assert.equal(await echo(c, 'org.fastbus.Misnamed', 'x').answer, 'org.freedesktop.DBus.Error.ServiceUnknown');
      c.stream.close();
    });
  });
}
