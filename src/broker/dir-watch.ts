// The directories whose changes reload the bus, as dbus-daemon watches them
// with inotify: the configuration's <includedir>s and the service directories
// (not the transient one). Events of one tick make one reload.
import { watch, type FSWatcher } from 'node:fs';

/** Watches directories and calls `changed` (at most once a tick) when something in one changes. */
export class DirWatch {
  private watchers: FSWatcher[] = [];
  private queued = false;

  constructor(private readonly changed: () => void) {}

  /** Watches exactly `dirs` from now on (a directory that does not exist is not watched). */
  set(dirs: readonly string[]): void {
    this.close();
    for (const dir of new Set(dirs)) {
      let w: FSWatcher;
      try {
        w = watch(dir, { persistent: false }, () => this.event());
      } catch {
        continue;
      }
      w.on('error', () => w.close());
      this.watchers.push(w);
    }
  }

  close(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }

  private event(): void {
    if (this.queued) return;
    this.queued = true;
    setImmediate(() => {
      this.queued = false;
      this.changed();
    }).unref();
  }
}
