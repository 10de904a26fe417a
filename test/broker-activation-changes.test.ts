// Activation as dbus-daemon 1.14 does it, on fastbus and on dbus-daemon with
// the same config: the Features property, ActivatableServicesChanged after
// ReloadConfig and after a service file or a file in an include directory is
// added, a service that forks into
// the background (its first process exits 0 before the name is taken) counts
// as started, one that exits 0 and never takes the name times out, and a call
// the policy refuses gets AccessDenied without starting anything.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MessageType } from '../src/wire/index.js';
import { FIXTURES, run, startBus, type BusKind, type TestBus } from './fixtures/bus.js';
import { DBUS, raw, type Raw } from './fixtures/raw-client.js';

const PY = '/usr/bin/python3';
const SERVICE = path.join(FIXTURES, 'py-service.py');
const OPEN_POLICY = '<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy>';

/** Writes a .service file for `name` into `dir` in one step (renamed in from `scratch`: a watcher never sees half of it). */
function addServiceFile(dir: string, scratch: string, name: string, exec: string): void {
  const tmp = path.join(scratch, `${name}.tmp`);
  writeFileSync(tmp, `[D-BUS Service]\nName=${name}\nExec=${exec}\n`);
  renameSync(tmp, path.join(dir, `${name}.service`));
}

/** Calls Echo on `name` through a bare client: the echoed text, or the error name. */
async function echo(c: Raw, name: string, text: string): Promise<string> {
  const reply = await c.call({ destination: name, path: '/org/fastbus/Test', interface: 'org.fastbus.Test', member: 'Echo', signature: 's', body: [text] });
  return reply.type === MessageType.ERROR ? reply.errorName! : String(reply.body[0]);
}

/** Calls a driver method through a bare client: the reply's body, or the error name. */
async function driver(c: Raw, member: string, signature = '', body: unknown[] = []): Promise<unknown> {
  const reply = await c.call({ ...DBUS, member, signature, body });
  return reply.type === MessageType.ERROR ? reply.errorName! : reply.body;
}

/**
 * Waits for ActivatableServicesChanged signals (the caller subscribed) until
 * ListActivatableNames lists `name`: each reload announces itself, and a
 * reload that came before the change simply does not list it yet.
 */
async function untilListed(c: Raw, name: string): Promise<void> {
  for (;;) {
    await c.next((m) => m.member === 'ActivatableServicesChanged');
    if (((await driver(c, 'ListActivatableNames')) as string[][])[0].includes(name)) return;
  }
}

for (const kind of ['fastbus', 'dbus-daemon'] as BusKind[]) {
  describe(`activatable services on ${kind}`, { timeout: 60000 }, () => {
    let bus: TestBus;
    let client: Raw;
    const services = mkdtempSync(path.join(tmpdir(), 'fastbus-services-'));
    const scratch = mkdtempSync(path.join(tmpdir(), 'fastbus-scratch-'));
    const confd = mkdtempSync(path.join(tmpdir(), 'fastbus-confd-'));
    const moreServices = mkdtempSync(path.join(tmpdir(), 'fastbus-services-'));
    before(async () => {
      addServiceFile(moreServices, scratch, 'org.fastbus.Included', `${PY} ${SERVICE} org.fastbus.Included`);
      addServiceFile(services, scratch, 'org.fastbus.Forks', `${PY} ${path.join(FIXTURES, 'py-daemonize.py')} ${PY} ${SERVICE} org.fastbus.Forks`);
      addServiceFile(services, scratch, 'org.fastbus.Denied', `${PY} ${SERVICE} org.fastbus.Denied`);
      bus = await startBus(kind, `<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen><servicedir>${services}</servicedir>
        <includedir>${confd}</includedir>
        ${OPEN_POLICY}<policy context="default"><deny send_destination="org.fastbus.Denied"/></policy></busconfig>`);
      client = await raw(bus.address);
    });
    after(async () => {
      client?.stream.close();
      // Activated services end with the bus (libdbus leaves when its bus goes).
      await bus?.stop();
      for (const d of [services, scratch, confd, moreServices]) rmSync(d, { recursive: true, force: true });
    });

    it('lists ActivatableServicesChanged and HeaderFiltering in Features', async () => {
      const out = await run(bus, 'busctl', ['--user', 'get-property', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'Features']);
      assert.equal(out.trim(), 'as 2 "ActivatableServicesChanged" "HeaderFiltering"');
    });

    it('emits ActivatableServicesChanged on ReloadConfig, before its reply', async () => {
      const c = await raw(bus.address);
      await driver(c, 'AddMatch', 's', ["type='signal',interface='org.freedesktop.DBus',member='ActivatableServicesChanged'"]);
      const serial = c.send({ ...DBUS, member: 'ReloadConfig' });
      // The first of the two to arrive (the inbox keeps arrival order).
      const first = await c.next((m) => m.member === 'ActivatableServicesChanged' || m.replySerial === serial);
      assert.deepEqual([first.type, first.sender, first.path, first.member, first.signature ?? '', first.body],
        [MessageType.SIGNAL, 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'ActivatableServicesChanged', '', []]);
      assert.equal((await c.next((m) => m.replySerial === serial)).type, MessageType.METHOD_RETURN);
      c.stream.close();
    });

    it('emits ActivatableServicesChanged when a service file is added, and lists the new name', async () => {
      const c = await raw(bus.address);
      await driver(c, 'AddMatch', 's', ["type='signal',interface='org.freedesktop.DBus',member='ActivatableServicesChanged'"]);
      assert.ok(!((await driver(c, 'ListActivatableNames')) as string[][])[0].includes('org.fastbus.Added'));
      addServiceFile(services, scratch, 'org.fastbus.Added', `${PY} ${SERVICE} org.fastbus.Added`);
      await untilListed(c, 'org.fastbus.Added');
      c.stream.close();
    });

    it('reloads when a file is added to an include directory', async () => {
      const c = await raw(bus.address);
      await driver(c, 'AddMatch', 's', ["type='signal',interface='org.freedesktop.DBus',member='ActivatableServicesChanged'"]);
      const tmp = path.join(scratch, 'more.conf.tmp');
      writeFileSync(tmp, `<busconfig><servicedir>${moreServices}</servicedir></busconfig>`);
      renameSync(tmp, path.join(confd, 'more.conf'));
      await untilListed(c, 'org.fastbus.Included');
      c.stream.close();
    });

    it('counts a service that forks into the background as started, and starts it once', async () => {
      assert.deepEqual(await driver(client, 'StartServiceByName', 'su', ['org.fastbus.Forks', 0]), [1]);
      assert.deepEqual(await driver(client, 'StartServiceByName', 'su', ['org.fastbus.Forks', 0]), [2]);
      assert.equal(await echo(client, 'org.fastbus.Forks', 'forked'), 'forked');
    });

    it('refuses a call the policy denies with AccessDenied before starting its service', async () => {
      assert.equal(await echo(client, 'org.fastbus.Denied', 'x'), 'org.freedesktop.DBus.Error.AccessDenied');
      assert.deepEqual(await driver(client, 'NameHasOwner', 's', ['org.fastbus.Denied']), [false]);
      // A start the policy allows (StartServiceByName goes to the bus) still works: the service was there to start.
      assert.deepEqual(await driver(client, 'StartServiceByName', 'su', ['org.fastbus.Denied', 0]), [1]);
    });
  });

  describe(`a service that exits 0 without its name on ${kind}`, { timeout: 60000 }, () => {
    let bus: TestBus;
    const services = mkdtempSync(path.join(tmpdir(), 'fastbus-services-'));
    before(async () => {
      writeFileSync(path.join(services, 'org.fastbus.Never.service'), '[D-BUS Service]\nName=org.fastbus.Never\nExec=/bin/true\n');
      // The timeout only decides how soon the (certain) outcome shows.
      bus = await startBus(kind, `<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen><servicedir>${services}</servicedir>
        <limit name="service_start_timeout">500</limit>${OPEN_POLICY}</busconfig>`);
    });
    after(async () => {
      await bus?.stop();
      rmSync(services, { recursive: true, force: true });
    });

    it('waits for the name until the start timeout instead of failing at the exit', async () => {
      const c = await raw(bus.address);
      assert.equal(await echo(c, 'org.fastbus.Never', 'x'), 'org.freedesktop.DBus.Error.TimedOut');
      c.stream.close();
    });
  });
}
