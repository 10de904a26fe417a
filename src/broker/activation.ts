// Service activation (D-Bus specification, "Message Bus Starting Services";
// dbus-daemon(1), --systemd-activation): .service files map a well-known name
// to a command (Exec=) and, for systemd activation, to a unit (SystemdService=).
// A start runs the command, or asks org.freedesktop.systemd1 for the unit, and
// waits until the name has an owner. A failing exit, systemd's
// ActivationFailure or the start timeout ends the wait with an error; an exit
// with status 0 does not (the service may have forked into the background).
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import path from 'node:path';
import { isValidBusName } from '../names/index.js';
import { BusError, BusErrors } from './bus-error.js';

let childProcess: typeof import('node:child_process') | undefined;
/** node:child_process, loaded at the first start: not on the bus's start-up path (it costs several ms to load). */
function spawn(...args: Parameters<typeof import('node:child_process').spawn>): ChildProcess {
  childProcess ??= createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
  return childProcess.spawn(...args);
}

/** The name systemd owns on a bus; in systemd activation mode it is never spawned. */
export const SYSTEMD_NAME = 'org.freedesktop.systemd1';

/** One activatable service. */
export interface ServiceFile {
  name: string;
  exec: string;
  /** SystemdService=: the unit systemd starts in systemd activation mode. */
  systemdService: string | undefined;
  file: string;
  mtimeMs: number;
}

/** Where service files are read from. */
export interface ServiceDirs {
  /** In order: the first file for a name wins. */
  dirs: string[];
  /** Those of `dirs` whose files count only when named NAME.service (and that are not watched: dir-watch.ts). */
  transient: string[];
}

/** What the bus does for the activator. */
export interface ActivatorHooks {
  /** Variables the bus adds for a started command (DBUS_STARTER_ADDRESS, UpdateActivationEnvironment's). */
  environment(): Record<string, string>;
  /**
   * Sends ActivationRequest(unit) to org.freedesktop.systemd1; false when that
   * name has no owner yet. `kept`: a request made earlier, already shown to monitors.
   */
  requestUnit(unit: string, kept: boolean): boolean;
  log(line: string): void;
}

export interface ActivatorOptions {
  /** --systemd-activation: services with SystemdService= are started by systemd. */
  systemd: boolean;
  /** service_start_timeout */
  timeoutMs: number;
}

/** Variables systemd sets for the bus itself, not for what it starts (as dbus-daemon drops them). */
const BUS_ONLY_VARIABLES = ['JOURNAL_STREAM', 'LISTEN_FDNAMES', 'LISTEN_FDS', 'LISTEN_PID', 'NOTIFY_SOCKET', 'INVOCATION_ID'];

function parseServiceFile(text: string): Record<string, string> {
  let section = '';
  const keys: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      section = sec[1];
      continue;
    }
    const eq = line.indexOf('=');
    if (section === 'D-BUS Service' && eq > 0) keys[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return keys;
}

/** Reads `[D-BUS Service]` Name=, Exec= and SystemdService= from the .service files of `dirs` (first file wins). */
export function readServiceFiles(dirs: ServiceDirs, log?: (line: string) => void): Map<string, ServiceFile> {
  const out = new Map<string, ServiceFile>();
  for (const dir of dirs.dirs) {
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.service')).sort();
    } catch {
      continue;
    }
    for (const n of names) {
      const file = path.join(dir, n);
      let text: string;
      let mtimeMs: number;
      try {
        text = readFileSync(file, 'utf8');
        mtimeMs = statSync(file).mtimeMs;
      } catch {
        continue;
      }
      const keys = parseServiceFile(text);
      if (!keys.Name || !keys.Exec) {
        log?.(`ignoring ${file}: it needs Name= and Exec= in [D-BUS Service]`);
        continue;
      }
      if (!isValidBusName(keys.Name) || keys.Name.startsWith(':') || keys.Name === 'org.freedesktop.DBus') {
        log?.(`ignoring ${file}: "${keys.Name}" cannot be activatable`);
        continue;
      }
      if (dirs.transient.includes(dir) && n !== `${keys.Name}.service`) {
        log?.(`Service file "${file}" should have been named "${keys.Name}.service": not loading it`);
        continue;
      }
      if (!out.has(keys.Name)) out.set(keys.Name, { name: keys.Name, exec: keys.Exec, systemdService: keys.SystemdService || undefined, file, mtimeMs });
    }
  }
  return out;
}

/** A start in progress. */
interface PendingStart {
  promise: Promise<void>;
  exec: string | undefined;
  unit: string | undefined;
  child?: ChildProcess;
  finish(error?: Error): void;
}

/** Starts services and tracks starts in progress. */
export class Activator {
  private services = new Map<string, ServiceFile>();
  private readonly pending = new Map<string, PendingStart>();
  /** ActivationRequests waiting for org.freedesktop.systemd1 to have an owner. */
  private unitQueue: string[] = [];

  constructor(
    private dirs: ServiceDirs,
    private readonly hooks: ActivatorHooks,
    private options: ActivatorOptions,
  ) {
    this.reload(dirs);
  }

  /** Re-reads the service directories. */
  reload(dirs = this.dirs, timeoutMs = this.options.timeoutMs): void {
    this.dirs = dirs;
    this.options = { ...this.options, timeoutMs };
    this.services = readServiceFiles(dirs, this.hooks.log);
  }

  get systemd(): boolean {
    return this.options.systemd;
  }

  /** The names ListActivatableNames reports (as last read). */
  names(): string[] {
    return [...this.services.keys()];
  }

  /**
   * The service for `name`, reading the directories again when it is not
   * known or its file changed (as dbus-daemon does before an activation, so
   * that a file added to an unwatched directory is found).
   */
  find(name: string): ServiceFile | undefined {
    const known = this.services.get(name);
    if (known) {
      try {
        if (statSync(known.file).mtimeMs === known.mtimeMs) return known;
      } catch {
        // gone: read again
      }
    }
    this.services = readServiceFiles(this.dirs, this.hooks.log);
    return this.services.get(name);
  }

  /** Whether `name` can be started (systemd itself counts in systemd activation mode). */
  activatable(name: string): boolean {
    return (this.options.systemd && name === SYSTEMD_NAME) || this.find(name) !== undefined;
  }

  /** Called by the bus when `name` gets a primary owner. */
  acquired(name: string): void {
    this.pending.get(name)?.finish();
    if (name === SYSTEMD_NAME && this.unitQueue.length > 0) {
      const units = this.unitQueue;
      this.unitQueue = [];
      for (const unit of units) if (!this.hooks.requestUnit(unit, true)) this.unitQueue.push(unit);
    }
  }

  /** systemd's ActivationFailure(unit, error name, message): the starts waiting on that unit fail with that error. */
  systemdFailed(unit: string, errorName: string, message: string): void {
    this.hooks.log(`Activation via systemd failed for unit '${unit}': ${message}`);
    for (const p of [...this.pending.values()]) if (p.unit === unit) p.finish(new BusError(errorName, message));
  }

  /** Starts the service for `name`; resolves when it owns the name. */
  start(name: string): Promise<void> {
    const running = this.pending.get(name);
    if (running) return running.promise;
    const systemdItself = this.options.systemd && name === SYSTEMD_NAME;
    const service = systemdItself ? undefined : this.find(name);
    if (!systemdItself && !service) {
      return Promise.reject(new BusError(BusErrors.ServiceUnknown, `The name ${name} was not provided by any .service files`));
    }
    const unit = this.options.systemd ? service?.systemdService : undefined;
    const timeoutMs = this.options.timeoutMs;
    let p!: PendingStart;
    const promise = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        p.child?.kill('SIGKILL');
        const text = `Failed to activate service '${name}': timed out (service_start_timeout=${timeoutMs}ms)`;
        this.hooks.log(text);
        p.finish(new BusError(BusErrors.TimedOut, text));
      }, timeoutMs);
      timer.unref();
      p = {
        promise: undefined as unknown as Promise<void>,
        exec: service?.exec,
        unit,
        finish: (error) => {
          if (this.pending.get(name) !== p) return;
          clearTimeout(timer);
          this.pending.delete(name);
          p.child?.removeAllListeners('exit');
          if (error) reject(error);
          else resolve();
        },
      };
    });
    p.promise = promise;
    this.pending.set(name, p);
    if (systemdItself) {
      // systemd connects by itself: nothing to run, wait for it.
    } else if (unit !== undefined) this.requestUnit(unit);
    else this.spawn(name, p, service!);
    return promise;
  }

  private requestUnit(unit: string): void {
    if (this.hooks.requestUnit(unit, false)) return;
    // systemd is not on the bus yet: the request waits for it (and so does a start of systemd itself).
    this.unitQueue.push(unit);
    // If systemd does not come in time, its requests are dropped (the starts waiting on them time out too).
    this.start(SYSTEMD_NAME).catch(() => {
      this.unitQueue = [];
    });
  }

  private spawn(name: string, p: PendingStart, service: ServiceFile): void {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of BUS_ONLY_VARIABLES) delete env[k];
    Object.assign(env, this.hooks.environment());
    const child = spawn('/bin/sh', ['-c', `exec ${service.exec}`], { env, stdio: ['ignore', 'inherit', 'inherit'] });
    p.child = child;
    child.once('error', (e) => this.failSameExec(p, new BusError(BusErrors.SpawnExecFailed, `Failed to execute program ${service.exec}: ${e.message}`)));
    child.once('exit', (code, signal) => {
      // Exit status 0 is not a failure: a service that forks into the background exits so.
      if (signal) this.failSameExec(p, new BusError(BusErrors.SpawnChildSignaled, `Process ${name} received signal ${constants.signals[signal] ?? signal}`));
      else if (code !== 0) this.failSameExec(p, new BusError(BusErrors.SpawnChildExited, `Process ${name} exited with status ${code}`));
    });
  }

  /** As dbus-daemon: a failed command fails every start waiting on the same command. */
  private failSameExec(p: PendingStart, error: BusError): void {
    this.hooks.log(`Activated service failed: ${error.message}`);
    for (const other of [...this.pending.values()]) if (other !== p && other.exec === p.exec) other.finish(error);
    p.finish(error);
  }
}
