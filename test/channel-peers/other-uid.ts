// Running the channel test peer as another uid (nobody, 65534) from a root
// test process. The checkout may sit in a directory that uid cannot read (a
// 0700 home), so the peer and what it loads (dist/src, the addon,
// package.json) are copied to a fresh directory it can read; when even that
// cannot work (no root, node itself unreadable), the reason to skip is given.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const NOBODY = 65534;

/** A copy of the peer that `uid` can run, or why not. */
export type PeerAsUid = { peer: string; cwd: string; remove(): void } | { skip: string };

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/test/channel-peers
const root = path.resolve(here, '../../..');

function openUp(p: string): void {
  const st = statSync(p);
  chmodSync(p, st.isDirectory() ? 0o755 : 0o644);
  if (st.isDirectory()) for (const name of readdirSync(p)) openUp(path.join(p, name));
}

export function peerAsUid(uid: number = NOBODY): PeerAsUid {
  if (process.getuid?.() !== 0) return { skip: `needs root to start a process as uid ${uid}` };
  const dir = mkdtempSync(path.join(tmpdir(), 'fastbus-uid-'));
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    cpSync(path.join(root, 'dist', 'src'), path.join(dir, 'dist', 'src'), { recursive: true });
    cpSync(here, path.join(dir, 'dist', 'test', 'channel-peers'), { recursive: true });
    cpSync(path.join(root, 'build', 'Release', 'fastbus.node'), path.join(dir, 'build', 'Release', 'fastbus.node'));
    cpSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
    openUp(dir);
    // Can that uid start node and load the channel from the copy?
    const index = pathToFileURL(path.join(dir, 'dist', 'src', 'channel', 'index.js')).href;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(index)})`], {
      uid, gid: uid, cwd: dir, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'],
    });
    if (r.status !== 0) {
      remove();
      return { skip: `uid ${uid} cannot run ${process.execPath} with the channel: ${(r.error?.message ?? r.stderr).trim().split('\n')[0]}` };
    }
  } catch (e) {
    remove();
    return { skip: `cannot prepare a copy of the peer for uid ${uid}: ${(e as Error).message}` };
  }
  return { peer: path.join(dir, 'dist', 'test', 'channel-peers', 'peer.js'), cwd: dir, remove };
}
