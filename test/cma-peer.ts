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
  private waiting: ((v: any) => void)[] = [];
  private constructor(child: ChildProcess) {
    this.child = child;
    child.on('message', (m) => this.waiting.shift()?.(m));
  }

  static async start(options: ForkOptions = {}): Promise<Peer> {
    const child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], ...options });
    const peer = new Peer(child);
    const ready = await new Promise<{ pid: number }>((resolve, reject) => {
      peer.waiting.push(resolve);
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`peer exited with ${code} before it was ready`)));
    });
    peer.pid = ready.pid;
    return peer;
  }

  request<T = any>(req: PeerRequest): Promise<T> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
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
