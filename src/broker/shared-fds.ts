// File descriptors that several queued sends carry (a message's fds fanned
// out, a connection's pidfd in GetConnectionCredentials replies): counted
// references, closed after the last send that holds them is written.
import * as native from '../native/native.js';

/** Reference-counts fds shared by several sends; closes them after the last. */
export class SharedFds {
  private refs = 1;
  constructor(readonly fds: number[]) {}
  retain(): () => void {
    this.refs++;
    return () => this.release();
  }
  release(): void {
    if (--this.refs === 0) for (const fd of this.fds) native.fdClose(fd);
  }
}
