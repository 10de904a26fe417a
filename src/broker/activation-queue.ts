// Calls to a name that activation is starting (D-Bus specification, "Message
// Bus Starting Services"): kept, stamped and decoded on their own bytes (the
// received frame is only borrowed), until the name gets an owner (then routed
// to it, in order) or the start fails (then each caller gets the error).
import { decodeMessage } from '../wire/index.js';
import type { Broker } from './broker.js';
import { BusError, BusErrors } from './bus-error.js';
import type { Connection } from './connection.js';
import { stamped, type Routed } from './routed.js';

/** Messages waiting for an activated name, by name. */
export class ActivationQueue {
  private readonly waiting = new Map<string, Routed[]>();

  constructor(private readonly bus: Broker) {}

  /** Keeps `r` until `name` has an owner; the first message for a name starts its service. */
  add(name: string, r: Routed): void {
    let q = this.waiting.get(name);
    const first = !q;
    if (!q) this.waiting.set(name, (q = []));
    // The frame is borrowed: keep a stamped copy and its own decoding.
    const head = stamped(r);
    const bytes = r.body ? Buffer.concat([head, r.body]) : head;
    r.bytes = bytes;
    r.body = undefined;
    r.frame = bytes;
    r.msg = decodeMessage(bytes, { zeroCopy: true });
    r.fds?.retain();
    q.push(r);
    if (!first) return;
    this.bus.settings.activate!(name).catch((e: unknown) => {
      const queued = this.waiting.get(name) ?? [];
      this.waiting.delete(name);
      const err = e instanceof BusError ? e : new BusError(BusErrors.SpawnFailed, String(e));
      for (const m of queued) {
        m.fds?.release();
        if (m.from && !m.from.closed) this.bus.router.replyError(m.from, m.msg, err.errorName, err.message);
      }
    });
  }

  /** `name` got an owner: what waited for it goes to `owner`. */
  acquired(name: string, owner: Connection): void {
    const queued = this.waiting.get(name);
    if (!queued) return;
    this.waiting.delete(name);
    for (const r of queued) {
      if (r.from && !r.from.closed) this.bus.router.routeUnicast(r, owner);
      r.fds?.release();
    }
  }
}
