// `fastbus daemon`: the bus behind dbus-daemon's command line, so that
// `dbus-run-session --dbus-daemon=PATH` and scripts written for dbus-daemon
// work: --session/--system/--config-file choose the configuration,
// --address overrides <listen>, --print-address/--print-pid write to stdout
// or an fd; SIGHUP reloads the configuration, SIGTERM/SIGINT stop the bus.
import { closeSync, existsSync, writeSync } from 'node:fs';
import v8 from 'node:v8';
import { startBroker, type BrokerOptions } from '../broker/index.js';
import { register } from './commands.js';

const USAGE = `usage: fastbus daemon [--session | --system | --config-file=FILE] [--address=ADDR]
                     [--print-address[=FD]] [--print-pid[=FD]] [--nofork | --fork]
                     [--nopidfile] [--syslog | --nosyslog | --syslog-only] [--systemd-activation]
                     [--allow-anonymous] [--busy-poll-us=N] [--version]

Runs a D-Bus message bus (a drop-in for dbus-daemon). Without options: a
session bus on a fresh socket under $XDG_RUNTIME_DIR (else a private temp
directory); the address is printed on stdout.

--busy-poll-us=N: after handling messages, poll up to N microseconds before
sleeping, so that a reply or the next call needs no wake-up of the bus
(adaptive: it stops polling while traffic is sparse). Default 100; 0 = off.`;

/** The daemon's polling window: covers a client's reply gap on these machines (bench/broker). */
const DEFAULT_BUSY_POLL_US = 100;

interface DaemonArgs {
  configFile?: string;
  address?: string;
  printAddress?: number;
  printPid?: number;
  fork: boolean;
  nopidfile: boolean;
  socketActivation: boolean;
  systemdActivation: boolean;
  allowAnonymous: boolean;
  busyPollUs: number;
}

/** Parses dbus-daemon's options (both `--opt=value` and `--opt value`). */
export function parseDaemonArgs(argv: string[]): DaemonArgs | 'help' | 'version' {
  const a: DaemonArgs = { fork: false, nopidfile: false, socketActivation: false, systemdActivation: false, allowAnonymous: false, busyPollUs: DEFAULT_BUSY_POLL_US };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const key = eq < 0 ? arg : arg.slice(0, eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = argv[++i];
      if (next === undefined) throw new Error(`${key} needs a value`);
      return next;
    };
    const fd = (v: string | undefined): number => {
      if (v === undefined || v === '') return 1;
      if (!/^\d+$/.test(v)) throw new Error(`${key}: '${v}' is not a file descriptor number`);
      return Number(v);
    };
    switch (key) {
      case '--help': case '-h': return 'help';
      case '--version': return 'version';
      case '--session': a.configFile = '/usr/share/dbus-1/session.conf'; break;
      case '--system': a.configFile = '/usr/share/dbus-1/system.conf'; break;
      case '--config-file': a.configFile = value(); break;
      case '--address': a.address = value(); break;
      // dbus-daemon takes the fd either as =FD or as the next argument when it is a number.
      case '--print-address':
        a.printAddress = fd(inline ?? (/^\d+$/.test(argv[i + 1] ?? '') ? argv[++i] : undefined));
        break;
      case '--print-pid': a.printPid = fd(inline ?? (/^\d+$/.test(argv[i + 1] ?? '') ? argv[++i] : undefined)); break;
      case '--nofork': a.fork = false; break;
      case '--fork': a.fork = true; break;
      case '--nopidfile': a.nopidfile = true; break;
      case '--syslog': case '--nosyslog': case '--syslog-only': case '--introspect': break;
      // As dbus-daemon: systemd activation of services; and the sockets systemd passes are taken.
      case '--systemd-activation': a.socketActivation = true; a.systemdActivation = true; break;
      case '--allow-anonymous': a.allowAnonymous = true; break;
      case '--busy-poll-us': {
        const v = value();
        if (!/^\d+$/.test(v) || Number(v) > 1_000_000) throw new Error(`--busy-poll-us: '${v}' is not a number of microseconds (0..1000000)`);
        a.busyPollUs = Number(v);
        break;
      }
      default: throw new Error(`unknown option '${arg}'\n\n${USAGE}`);
    }
  }
  if (a.configFile && !existsSync(a.configFile) && (a.configFile.startsWith('/usr/share/dbus-1/'))) {
    // No system dbus configuration installed: the built-in defaults apply.
    a.configFile = undefined;
  }
  return a;
}

/**
 * The bus's log: a line to fd 2 by write(2), as process.stderr would (it writes
 * synchronously to files, pipes and terminals on Linux) without making that
 * stream at start-up (it loads net or tty: a few ms of the first log line at
 * start, docs/cli-daemon.md); through process.stderr when the write fails (EAGAIN on a non-blocking fd).
 */
function logLine(line: string): void {
  const text = `fastbus-broker: ${line}\n`;
  let written = 0;
  try {
    written = writeSync(2, text);
  } catch {
    // written stays 0: the stream takes the whole line.
  }
  if (written < Buffer.byteLength(text)) process.stderr.write(Buffer.from(text).subarray(written));
}

/** Writes the line, then closes fds other than stdout/stderr: readers such as dbus-run-session wait for EOF. */
function writeTo(fd: number, text: string): void {
  writeSync(fd, text);
  if (fd > 2) closeSync(fd);
}

async function runDaemon(argv: string[]): Promise<number> {
  const parsed = parseDaemonArgs(argv);
  if (parsed === 'help') {
    console.log(USAGE);
    return 0;
  }
  if (parsed === 'version') {
    console.log('fastbus daemon (D-Bus message bus compatible with dbus-daemon 1.14)');
    return 0;
  }
  if (parsed.fork) {
    // Node cannot fork(): run a detached copy with --nofork and pass its address on.
    const { spawn } = await import('node:child_process');
    const args = argv.filter((x) => x !== '--fork' && !x.startsWith('--print-address') && !x.startsWith('--print-pid'));
    const child = spawn(process.execPath, [process.argv[1], 'daemon', ...args, '--nofork', '--print-address=1'], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
    const address = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const nl = out.indexOf('\n');
        if (nl >= 0) resolve(out.slice(0, nl));
      });
      child.once('exit', (code) => reject(new Error(`the bus exited with status ${code}`)));
    });
    child.stdout!.destroy();
    child.unref();
    if (parsed.printAddress !== undefined || parsed.printPid === undefined) writeTo(parsed.printAddress ?? 1, `${address}\n`);
    if (parsed.printPid !== undefined) writeTo(parsed.printPid, `${child.pid}\n`);
    return 0;
  }
  // The bus's garbage is per-message and dies young: scavenging it on this thread
  // is quick, while parallel scavenges wake helper threads that take a core from
  // the clients waiting on a reply (10 futex wake-ups per scavenge instead of 1).
  // The young generation keeps its first size instead of growing up to 16 MiB a
  // half-space under floods: a scavenge of few survivors costs little, and the
  // bus's resident memory stays smaller (both flags are read at each GC).
  // bin/fastbus.cjs sets the same flags before it compiles the daemon's bundle
  // (its code cache is taken only under them): change both together.
  v8.setFlagsFromString('--no-parallel-scavenge');
  v8.setFlagsFromString('--semi-space-growth-factor=1');
  const options: BrokerOptions = { socketActivation: parsed.socketActivation || process.env.LISTEN_FDS !== undefined, busyPollUs: parsed.busyPollUs, log: logLine };
  if (parsed.configFile) options.configFile = parsed.configFile;
  if (parsed.address) options.address = parsed.address;
  if (parsed.allowAnonymous) options.allowAnonymous = true;
  if (parsed.systemdActivation) options.systemdActivation = true;
  const bus = await startBroker(options);
  // Like dbus-daemon: print the address when asked, and by default when no config chose a pid file.
  if (parsed.printAddress !== undefined || parsed.printPid === undefined) writeTo(parsed.printAddress ?? 1, `${bus.address}\n`);
  if (parsed.printPid !== undefined) writeTo(parsed.printPid, `${process.pid}\n`);
  process.on('SIGHUP', () => {
    bus.reload().catch((e: unknown) => process.stderr.write(`fastbus daemon: reload failed: ${(e as Error).message}\n`));
  });
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  bus.close();
  return 0;
}

register('daemon', { run: runDaemon });
