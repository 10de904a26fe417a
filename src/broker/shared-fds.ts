// File descriptors that several queued sends carry (a message's fds fanned
// out, a connection's pidfd in GetConnectionCredentials replies, a direct
// grant's segment and doorbells): counted references, closed after the last
// send that holds them is written.
import * as native from '../native/native.js';

/** Reference-counts fds shared by several sends; closes them after the last. */
export class SharedFds {
  private refs = 1;
  /** `onLast` replaces closing every fd when the last reference goes (for fds shared more widely still). */
  constructor(readonly fds: number[], private readonly onLast?: () => void) {}
  retain(): () => void {
    this.refs++;
    return () => this.release();
  }
  release(): void {
    if (--this.refs !== 0) return;
    if (this.onLast) this.onLast();
    else for (const fd of this.fds) native.fdClose(fd);
  }
}
