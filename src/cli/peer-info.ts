// What the bus says about a peer (GetConnectionCredentials) plus what /proc
// says about its process: used by `list` and `status`.
import { readFileSync } from 'node:fs';
import type { Connection } from '../client/index.js';
import type { Variant } from '../wire/index.js';

export interface PeerInfo {
  name: string;
  uniqueName?: string;
  pid?: number;
  uid?: number;
  user?: string;
  gids?: number[];
  comm?: string;
  cmdline?: string[];
  securityLabel?: string;
}

let users: Map<number, string> | undefined;
function userName(uid: number): string | undefined {
  if (!users) {
    users = new Map();
    try {
      for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
        const f = line.split(':');
        if (f.length > 2) users.set(Number(f[2]), f[0]);
      }
    } catch {
      // no passwd file: numbers only
    }
  }
  return users.get(uid);
}

function proc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

/** Credentials of `name` (unique or well-known) from the bus, plus /proc details when visible. */
export async function peerInfo(bus: Connection, name: string): Promise<PeerInfo> {
  const info: PeerInfo = { name };
  const [creds] = await bus.busCall('GetConnectionCredentials', 's', [name]);
  const c = creds as Record<string, Variant>;
  if (c.ProcessID) info.pid = c.ProcessID.value as number;
  if (c.UnixUserID) {
    info.uid = c.UnixUserID.value as number;
    info.user = userName(info.uid);
  }
  if (c.UnixGroupIDs) info.gids = c.UnixGroupIDs.value as number[];
  if (c.LinuxSecurityLabel) info.securityLabel = Buffer.from(c.LinuxSecurityLabel.value as Uint8Array).toString('utf8').replace(/\0$/, '');
  info.uniqueName = name.startsWith(':') ? name : await bus.getNameOwner(name);
  if (info.pid !== undefined) {
    info.comm = proc(info.pid, 'comm')?.trim();
    const cmd = proc(info.pid, 'cmdline');
    if (cmd) info.cmdline = cmd.split('\0').filter((x, i, a) => x !== '' || i < a.length - 1);
  }
  return info;
}
