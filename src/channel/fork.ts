// fork(modulePath): starts a Node child with a ready channel, as
// child_process.fork does with its IPC channel. The child inherits the
// socket, the segment and both doorbells as fds 3..6 and picks its end up
// with parentChannel(). The channel is usable at once on both sides.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { SOCK_SEQPACKET, check, fdClose, sockPair } from '../native/native.js';
import type { Channel, ChannelOptions } from './channel.js';
import { createEnds, openAttached, openCreated, DEFAULT_RING_BYTES } from './setup.js';

const ENV = 'FASTBUS_CHANNEL_FDS';

/** Options of fork(): the channel's options plus the child's. */
export interface ForkOptions extends ChannelOptions {
  /** Bytes per ring, a power of two (default 1 MiB). */
  ringSizeBytes?: number;
  execPath?: string;
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdin/stdout/stderr of the child (default 'inherit'). */
  stdio?: 'inherit' | 'pipe' | 'ignore';
  uid?: number;
  gid?: number;
}

/** Starts `modulePath` in a Node child; returns the child and this side's channel. */
export function fork(modulePath: string, args: string[] = [], options: ForkOptions = {}): { child: ChildProcess; channel: Channel } {
  const created = createEnds(options.ringSizeBytes ?? DEFAULT_RING_BYTES);
  const pair = new Int32Array(2);
  const r = sockPair(SOCK_SEQPACKET, pair);
  if (r < 0) {
    created.abandon();
    check(r, 'socketpair');
  }
  const io = options.stdio ?? 'inherit';
  const stdio: StdioOptions = [io, io, io, pair[1], created.segment.fd, created.efds[0], created.efds[1]];
  let child: ChildProcess;
  try {
    child = spawn(options.execPath ?? process.execPath, [...(options.execArgv ?? process.execArgv), modulePath, ...args], {
      stdio,
      env: { ...(options.env ?? process.env), [ENV]: '3,4,5,6' },
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      ...(options.uid !== undefined ? { uid: options.uid } : {}),
      ...(options.gid !== undefined ? { gid: options.gid } : {}),
    });
  } finally {
    fdClose(pair[1]);
  }
  if (child.pid === undefined) {
    created.abandon();
    fdClose(pair[0]);
    throw new Error(`fork: could not start ${options.execPath ?? process.execPath}`);
  }
  return { child, channel: openCreated(created, pair[0], child.pid, options) };
}

let inherited: Channel | null = null;

/**
 * In a child started by fork(): this process's end of the channel to its
 * parent (the same object on every call). Throws in any other process.
 */
export function parentChannel(options: ChannelOptions = {}): Channel {
  if (inherited) return inherited;
  const spec = process.env[ENV];
  if (spec === undefined) throw new Error('parentChannel(): this process was not started by fork() of fastbus/channel');
  const fds = spec.split(',').map(Number);
  if (fds.length !== 4 || !fds.every((n) => Number.isInteger(n) && n >= 0)) throw new Error(`parentChannel(): malformed ${ENV}='${spec}'`);
  delete process.env[ENV];
  try {
    inherited = openAttached({ sock: fds[0], memfd: fds[1], efd0: fds[2], efd1: fds[3] }, process.ppid, options);
  } catch (e) {
    fdClose(fds[0]); // the rest were closed by openAttached
    throw e;
  }
  return inherited;
}
