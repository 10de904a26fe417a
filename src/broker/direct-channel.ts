// The channel the bus makes for a pair (docs/direct.md, "Grant"): a segment,
// two doorbells and a socketpair; the bus's own mapping of the segment, which
// reads each end's traffic and is how the bus revokes the channel; and a
// Grant signal to each end with its fds and who the other end is (unique name,
// uid, pid, well-known names). The fds are closed once both Grants are sent.
import { GrantedTraffic, makeGrantedFds, type GrantedFds } from '../channel/granted-fds.js';
import { fdClose } from '../native/native.js';
import type { DirectInterface } from './direct-interface.js';
import type { DirectPair } from './direct-pair.js';
import type { GrantsHost } from './direct-grants.js';
import { SharedFds } from './shared-fds.js';

/**
 * Makes `p`'s channel and maps it (`p.traffic`), or logs why it cannot and
 * returns undefined: no grant without the bus's way to revoke it.
 */
export function makeDirectChannel(p: DirectPair, ringBytes: number, host: GrantsHost): GrantedFds | undefined {
  let fds;
  try {
    fds = makeGrantedFds(ringBytes);
  } catch (e) {
    host.log(`cannot make a direct channel for ${p.a.uniqueName} and ${p.b.uniqueName}: ${(e as Error).message}`);
    return undefined;
  }
  try {
    // The bus's way to revoke the channel: no grant without it.
    p.traffic = new GrantedTraffic(fds.memfd, ringBytes);
  } catch (e) {
    host.log(`cannot map a direct channel for ${p.a.uniqueName} and ${p.b.uniqueName}: ${(e as Error).message}`);
    for (const fd of [fds.memfd, fds.efd0, fds.efd1, ...fds.socks]) fdClose(fd);
    return undefined;
  }
  return fds;
}

/** Sends each end of `p` its Grant: the common fds, its own socket, and the other end's identity. */
export function sendGrants(p: DirectPair, fds: GrantedFds, host: GrantsHost, iface: DirectInterface): void {
  const common = [fds.memfd, fds.efd0, fds.efd1];
  let holders = 2;
  const releaseCommon = (): void => {
    if (--holders === 0) for (const fd of common) fdClose(fd);
  };
  const maxQueued = host.maxQueuedBytes();
  for (const side of [0, 1] as const) {
    const self = side === 0 ? p.a : p.b;
    const other = side === 0 ? p.b : p.a;
    const sock = fds.socks[side];
    const shared = new SharedFds([...common, sock], () => {
      fdClose(sock);
      releaseCommon();
    });
    const creds = other.credentials!;
    // h values index the fds: memfd, efd0, efd1, this side's socket.
    iface.notify(self, 'Grant', 'suuasuuhhhh', [other.uniqueName!, creds.uid, creds.pid, host.namesOf(other), side, maxQueued, 0, 1, 2, 3], shared);
    shared.release();
  }
}
