// Who is on the other end of a unix socket, read once at accept (SO_PEERCRED,
// SO_PEERGROUPS, SO_PEERPIDFD): later reads could see a different process
// after the original one passed the socket on or died.
import * as native from '../native/native.js';

/** The kernel's record of the peer when the connection was made. */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
  /** Supplementary groups (may be empty where SO_PEERGROUPS is refused). */
  groups: number[];
  /** A pidfd for the peer process (Linux 6.5+), owned by the caller; undefined elsewhere. */
  pidfd: number | undefined;
}

/** Out-values of the getsockopt calls, copied out at once: shared by every accept (no 1 KiB of garbage each). */
const credScratch = new Int32Array(3);
let groupsScratch: Uint32Array | undefined;

/** Reads the peer's credentials; throws SystemError if the socket has none. */
export function readPeerCredentials(fd: number, withPidfd = false): PeerCredentials {
  const cred = credScratch;
  native.check(native.sockPeercred(fd, cred), 'getsockopt(SO_PEERCRED)');
  const buf = (groupsScratch ??= new Uint32Array(256));
  const n = native.sockPeergroups(fd, buf);
  const groups = n > 0 ? Array.from(buf.subarray(0, n)) : [];
  let pidfd: number | undefined;
  if (withPidfd) {
    const p = native.sockPeerpidfd(fd);
    if (p >= 0) pidfd = p;
  }
  return { pid: cred[0], uid: cred[1] >>> 0, gid: cred[2] >>> 0, groups, pidfd };
}
