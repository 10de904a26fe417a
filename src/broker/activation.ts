// Service activation (D-Bus specification, "Message Bus Starting Services"):
// .service files in the service directories map a well-known name to a
// command. Starting runs the command with DBUS_STARTER_ADDRESS and waits until
// the name has an owner; an exit first, or the start timeout, is an error.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BusError, BusErrors } from './bus-error.js';

/** One activatable service. */
export interface ServiceFile {
  name: string;
  exec: string;
  file: string;
}

/** Reads `[D-BUS Service]` Name= and Exec= from the .service files of `dirs` (first directory wins). */
export function readServiceFiles(dirs: string[], log?: (line: string) => void): Map<string, ServiceFile> {
  const out = new Map<string, ServiceFile>();
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.service')).sort();
    } catch {
      continue;
    }
    for (const n of names) {
      const file = path.join(dir, n);
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue;
      }
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
      if (!keys.Name || !keys.Exec) {
        log?.(`ignoring ${file}: it needs Name= and Exec= in [D-BUS Service]`);
        continue;
      }
      if (!out.has(keys.Name)) out.set(keys.Name, { name: keys.Name, exec: keys.Exec, file });
    }
  }
  return out;
}

/** Starts services and tracks starts in progress. */
export class Activator {
  private services = new Map<string, ServiceFile>();
  private starting = new Map<string, Promise<void>>();
  private waiters = new Map<string, () => void>();

  constructor(
    private dirs: string[],
    private readonly env: () => Record<string, string>,
    private readonly timeoutMs: number,
    private readonly log: (line: string) => void,
  ) {
    this.reload(dirs);
  }

  /** Re-reads the service directories. */
  reload(dirs = this.dirs): void {
    this.dirs = dirs;
    this.services = readServiceFiles(dirs, this.log);
  }

  names(): string[] {
    return [...this.services.keys()];
  }

  /** Called by the bus when `name` gets an owner. */
  acquired(name: string): void {
    this.waiters.get(name)?.();
  }

  /** Starts the service for `name`; resolves when it owns the name. */
  start(name: string): Promise<void> {
    const running = this.starting.get(name);
    if (running) return running;
    const service = this.services.get(name);
    if (!service) return Promise.reject(new BusError(BusErrors.ServiceUnknown, `The name ${name} was not provided by any .service files`));
    const p = new Promise<void>((resolve, reject) => {
      const child = spawn('/bin/sh', ['-c', `exec ${service.exec}`], { env: { ...process.env, ...this.env() }, stdio: ['ignore', 'inherit', 'inherit'], detached: false });
      const timer = setTimeout(() => finish(new BusError(BusErrors.TimedOut, `Activation of ${name} timed out`)), this.timeoutMs);
      timer.unref();
      const finish = (error?: Error): void => {
        clearTimeout(timer);
        this.waiters.delete(name);
        this.starting.delete(name);
        child.removeAllListeners('exit');
        if (error) reject(error);
        else resolve();
      };
      this.waiters.set(name, () => finish());
      child.once('error', (e) => finish(new BusError(BusErrors.SpawnExecFailed, `Failed to execute program ${service.exec}: ${e.message}`)));
      child.once('exit', (code, signal) => {
        if (signal) finish(new BusError(BusErrors.SpawnChildSignaled, `Process ${name} received signal ${signal}`));
        else finish(new BusError(BusErrors.SpawnChildExited, `Process ${name} exited with status ${code}`));
      });
    });
    this.starting.set(name, p);
    return p;
  }
}
