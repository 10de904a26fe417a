// Starting with a configuration, on fastbus and on dbus-daemon with the same
// file: every <limit> name dbus-daemon 1.14 knows is accepted (fastbus names
// in one start-up line those it reads and does not apply); a configuration
// the bus cannot use ends it at once with a clear error and a non-zero exit,
// before any address is printed, so a program reading the address gets EOF
// instead of waiting for ever.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect } from '../src/client/index.js';
import { CLI, startBus, type BusKind } from './fixtures/bus.js';

const POLICY = '<policy context="default"><allow send_destination="*"/><allow receive_sender="*"/><allow own="*"/></policy>';

/** Every limit dbus-daemon 1.14 knows (its config-parser.c), with a value that leaves a bus usable. */
const ALL_LIMITS: Record<string, number> = {
  max_incoming_bytes: 133169152, max_incoming_unix_fds: 64, max_outgoing_bytes: 133169152, max_outgoing_unix_fds: 64,
  max_message_size: 33554432, max_message_unix_fds: 16, service_start_timeout: 120000, auth_timeout: 240000,
  pending_fd_timeout: 150000, reply_timeout: 120000, max_completed_connections: 100000, max_incomplete_connections: 10000,
  max_connections_per_user: 100000, max_pending_service_starts: 10000, max_names_per_connection: 50000,
  max_match_rules_per_connection: 50000, max_replies_per_connection: 50000, max_containers: 1000,
  max_containers_per_user: 100, max_connections_per_container: 100, max_container_metadata_bytes: 4096,
};
/** Those fastbus reads and does not apply (src/broker/bus-config.ts says why). */
const UNAPPLIED = ['max_incoming_bytes', 'max_incoming_unix_fds', 'max_message_unix_fds', 'pending_fd_timeout',
  'max_pending_service_starts', 'max_containers', 'max_containers_per_user',
  'max_connections_per_container', 'max_container_metadata_bytes'];

const config = (inner: string): string => `<busconfig><type>session</type><listen>unix:tmpdir=${tmpdir()}</listen>${POLICY}${inner}</busconfig>`;

/** Runs the bus on `configXml` until it exits (a watchdog ends it after 20 s); what it printed, and how it ended. */
async function runToExit(kind: BusKind, configXml: string, fork: boolean): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fastbus-config-'));
  try {
    const file = path.join(dir, 'bus.conf');
    writeFileSync(file, configXml);
    const args = [`--config-file=${file}`, fork ? '--fork' : '--nofork', '--print-address=1', '--print-pid=1'];
    const child = kind === 'fastbus' ? spawn(process.execPath, [CLI, 'daemon', ...args]) : spawn('dbus-daemon', args);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const watchdog = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const [code] = await new Promise<[number | null]>((resolve) => child.once('close', (c) => resolve([c])));
    clearTimeout(watchdog);
    // A bus that started after all (a failed test) is not left behind: its pid is the last line.
    const pid = Number(stdout.trim().split('\n').pop());
    if (stdout.includes('unix:') && Number.isInteger(pid) && pid > 0) process.kill(pid);
    return { code, stdout, stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const kind of ['fastbus', 'dbus-daemon'] as BusKind[]) {
  describe(`starting ${kind} with a configuration`, { timeout: 60_000 }, () => {
    it('accepts every <limit> name dbus-daemon 1.14 knows, and answers Hello', async () => {
      const limits = Object.entries(ALL_LIMITS).map(([n, v]) => `<limit name="${n}">${v}</limit>`).join('');
      const bus = await startBus(kind, config(limits), false);
      try {
        const c = await connect(bus.address);
        assert.match(c.uniqueName, /^:1\.\d+$/);
        c.close();
        if (kind === 'fastbus') {
          const lines = bus.log.filter((l) => /read and not applied/.test(l));
          assert.equal(lines.length, 1, bus.log.join('\n'));
          for (const n of UNAPPLIED) assert.ok(lines[0].includes(`<limit name="${n}">`), `the start-up line names ${n}: ${lines[0]}`);
          for (const n of Object.keys(ALL_LIMITS).filter((x) => !UNAPPLIED.includes(x))) assert.ok(!lines[0].includes(`"${n}"`), `${n} is applied`);
        }
      } finally {
        await bus.stop();
      }
    });

    for (const fork of [false, true]) {
      const how = fork ? '--fork' : '--nofork';
      it(`exits non-zero with ${how}, printing no address, on a <limit> name it does not know`, async () => {
        const r = await runToExit(kind, config('<limit name="max_frobs">3</limit>'), fork);
        assert.notEqual(r.code, 0);
        assert.equal(r.stdout, '');
        assert.match(r.stderr, /no limit called "max_frobs"/i);
      });

      it(`exits non-zero with ${how}, printing no address, when it cannot listen`, async () => {
        const r = await runToExit(kind, config('').replace(/<listen>[^<]*<\/listen>/, '<listen>unix:path=/nonexistent/fastbus/bus</listen>'), fork);
        assert.notEqual(r.code, 0);
        assert.equal(r.stdout, '');
        assert.match(r.stderr, /\/nonexistent\/fastbus\/bus/);
      });
    }
  });
}
