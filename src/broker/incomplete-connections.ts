// Connections from accept until their Hello is answered, as dbus-daemon counts
// "incomplete" ones: auth_timeout runs until that Hello (a client that
// authenticates and never says Hello, or whose Hello the limits refused, is
// closed when it runs out), and at max_incomplete_connections the listeners stop
// taking new connections, which wait in the backlog until one completes or leaves.
import { ProtocolError } from '../errors.js';
import type { Listener, MessageStream } from '../transport/index.js';
import type { BrokerLimits } from './broker-settings.js';

/** What the tracker needs from the bus. */
export interface IncompleteHost {
  limits(): BrokerLimits;
  listeners(): readonly Listener[];
  log(line: string): void;
}

/** The connections that have not completed Hello, each with its deadline. */
export class IncompleteConnections {
  private readonly deadlines = new Map<MessageStream, NodeJS.Timeout>();
  private paused = false;

  constructor(private readonly host: IncompleteHost) {}

  get size(): number {
    return this.deadlines.size;
  }

  /** A connection was just accepted; `describe` names it in the log. */
  add(stream: MessageStream, describe: () => string): void {
    const { authTimeoutMs, maxIncompleteConnections } = this.host.limits();
    const timer = setTimeout(() => {
      if (!this.deadlines.has(stream)) return;
      const text = `no Hello within auth_timeout=${authTimeoutMs} ms`;
      this.host.log(`closed ${describe()}: ${text}`);
      stream.close(new ProtocolError('AUTH_TIMEOUT', text));
    }, authTimeoutMs);
    timer.unref();
    this.deadlines.set(stream, timer);
    if (!this.paused && this.deadlines.size >= maxIncompleteConnections) {
      this.paused = true;
      this.host.log(`${this.deadlines.size} connections have not said Hello (max_incomplete_connections): new connections wait until one does or leaves`);
      for (const l of this.host.listeners()) l.pause();
    }
  }

  /** The connection's Hello was answered, or it closed. */
  remove(stream: MessageStream): void {
    const timer = this.deadlines.get(stream);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.deadlines.delete(stream);
    if (this.paused && this.deadlines.size < this.host.limits().maxIncompleteConnections) {
      this.paused = false;
      for (const l of this.host.listeners()) l.resume();
    }
  }

  /** The bus closes: every connection that has not said Hello is closed, and no deadline is left running. */
  close(): void {
    const left = [...this.deadlines];
    this.deadlines.clear();
    for (const [stream, timer] of left) {
      clearTimeout(timer);
      stream.close();
    }
  }
}
