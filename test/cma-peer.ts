// Drives test/fixtures/cma-peer.js in a child process for the cma tests.
import { fork, type ChildProcess, type ForkOptions } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PeerRequest } from './fixtures/cma-peer.js';

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'cma-peer.js');

/** A child that answers PeerRequests one at a time, in order. */
export class Peer {
  readonly child: ChildProcess;
  pid = 0;
  private waiting: { resolve: (v: any) => void; reject: (e: Error) => void }[] = [];
  private constructor(child: ChildProcess) {
    this.child = child;
    child.on('message', (m) => this.waiting.shift()?.resolve(m));
    // A peer that dies fails what waits on it (nothing is left pending for ever).
    const fail = (e: Error): void => { for (const w of this.waiting.splice(0)) w.reject(e); };
    child.once('error', fail);
    child.once('exit', (code, signal) => fail(new Error(`cma peer exited (${code ?? signal}) with ${this.waiting.length} request(s) unanswered`)));
  }

  /** Starts test/fixtures/cma-peer.js, or `at` (a copy of it elsewhere). */
  static async start(options: ForkOptions = {}, at = script): Promise<Peer> {
    const child = fork(at, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], ...options });
    const peer = new Peer(child);
    const ready = await new Promise<{ pid: number }>((resolve, reject) => peer.waiting.push({ resolve, reject }));
    peer.pid = ready.pid;
    return peer;
  }

  request<T = any>(req: PeerRequest): Promise<T> {
    return new Promise((resolve, reject) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return reject(new Error('cma peer has exited'));
      this.waiting.push({ resolve, reject });
      this.child.send(req);
    });
  }

  /** Ends the child and waits until it is gone (reaped). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await gone;
  }
}
