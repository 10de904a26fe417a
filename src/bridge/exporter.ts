// The exporting side of a bridge: serves well-known names of the local bus on
// NATS. A call arriving on `PREFIX.call.NAME` (in the exporters' queue group)
// is checked, given a serial of the bridge's connection and sent to NAME on the
// bus; the reply or error goes back to the NATS reply subject as the bus gave
// it. NAME's broadcast signals are published on `PREFIX.signal.NAME`. The
// bridge is in NAME's queue group only while NAME has an owner on its bus, so
// calls go to the machines where the service runs.
import type { Msg, NatsConnection, Subscription } from 'nats';
import { checkMessage, decodeMessage, encodeMessage, MessageType, type MessageHeader } from '../wire/index.js';
import { ErrorNames, formatSignalRule } from '../client/index.js';
import type { BusLink } from './bus-link.js';
import { callSubject, EXPORT_QUEUE, signalSubject } from './subjects.js';

interface Waiting {
  msg: Msg;
  deadline: number;
}

/** A bridge's exported names: calls in from NATS, replies and signals out. */
export class Exporter {
  /** The queue subscription of each exported name that has an owner on the bus. */
  private readonly subscriptions = new Map<string, Subscription>();
  private leaving = false;
  /** Calls sent on the bus, by the serial the bridge gave them. */
  private readonly waiting = new Map<number, Waiting>();
  /** Exported names by their current owner's unique name. */
  private readonly owned = new Map<string, Set<string>>();
  private readonly ownerOf = new Map<string, string>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private draining: (() => void) | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly bus: BusLink,
    private readonly prefix: string,
    private readonly names: readonly string[],
    private readonly timeoutMs: number,
    private readonly log: (line: string) => void,
  ) {}

  /** Follows the owners of the names, asks the bus for their signals and joins the queue groups of those owned. */
  async start(): Promise<void> {
    for (const name of this.names) {
      await this.bus.callDriver('AddMatch', 's', [formatSignalRule({ sender: 'org.freedesktop.DBus', interface: 'org.freedesktop.DBus', member: 'NameOwnerChanged', args: { 0: name } })]);
      await this.bus.callDriver('AddMatch', 's', [formatSignalRule({ sender: name })]);
      // Asked after the rule is in place, so that no change is missed in between.
      const owner = await this.bus.callDriver('GetNameOwner', 's', [name]).then(([o]) => o as string, () => '');
      if (!this.ownerOf.has(name)) this.setOwner(name, owner);
    }
    await this.nc.flush();
  }

  /** Handles a message from the bus; returns false when it is not the exporter's. */
  receive(bytes: Uint8Array, header: MessageHeader): boolean {
    const type = header.type;
    if (type === MessageType.METHOD_RETURN || type === MessageType.ERROR) {
      const w = header.replySerial === undefined ? undefined : this.waiting.get(header.replySerial);
      if (w === undefined) return false;
      this.waiting.delete(header.replySerial!);
      this.respond(w.msg, bytes, header);
      if (this.waiting.size === 0) this.draining?.();
      return true;
    }
    if (type !== MessageType.SIGNAL) return false;
    if (header.sender === 'org.freedesktop.DBus') {
      if (header.member === 'NameOwnerChanged') this.ownerChanged(bytes);
      return false;
    }
    const names = header.sender === undefined ? undefined : this.owned.get(header.sender);
    if (names === undefined || header.destination !== undefined) return false;
    if (header.unixFds) {
      this.log(`bridge: a signal ${header.interface}.${header.member} of ${[...names].join(', ')} carries unix fds, which cannot cross machines: not published`);
      return true;
    }
    const max = this.nc.info?.max_payload ?? Infinity;
    if (bytes.length > max) {
      this.log(`bridge: a signal ${header.interface}.${header.member} of ${[...names].join(', ')} is ${bytes.length} bytes, over the NATS server's max_payload of ${max} bytes: not published`);
      return true;
    }
    for (const name of names) this.nc.publish(signalSubject(this.prefix, name), bytes);
    return true;
  }

  /** Leaves the queue groups (new calls go to the other exporters), then waits for the calls in progress. */
  async drain(): Promise<void> {
    this.leaving = true;
    await Promise.all([...this.subscriptions.values()].map((s) => s.drain().catch(() => undefined)));
    this.subscriptions.clear();
    if (this.waiting.size > 0 && !this.bus.closed) await new Promise<void>((resolve) => (this.draining = resolve));
    await this.nc.flush().catch(() => undefined);
  }

  close(): void {
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    this.waiting.clear();
    this.draining?.();
  }

  /** Sends a call from NATS to NAME on the bus (a call without a reply subject wants no reply). */
  private forward(name: string, msg: Msg): void {
    let header: MessageHeader;
    const bytes = new Uint8Array(msg.data);
    try {
      header = checkMessage(bytes);
      if (header.type !== MessageType.METHOD_CALL) throw new Error(`a message of type ${header.type}, not a method call`);
      if (header.destination !== name) throw new Error(`a call to '${header.destination}' on the subject of ${name}`);
      if (header.unixFds) throw new Error('a call with unix fds');
    } catch (e) {
      this.log(`bridge: dropped a malformed call from NATS on ${msg.subject}: ${(e as Error).message}`);
      if (msg.reply) this.respondError(msg, ErrorNames.InvalidArgs, `fastbus bridge: malformed call: ${(e as Error).message}`);
      return;
    }
    if (this.bus.closed) {
      if (msg.reply) this.respondError(msg, ErrorNames.Disconnected, `fastbus bridge: the exporting bridge of ${name} lost its bus`);
      return;
    }
    const serial = this.bus.sendFrame(bytes);
    if (!msg.reply) return;
    this.waiting.set(serial, { msg, deadline: performance.now() + this.timeoutMs });
    this.sweepTimer ??= setTimeout(this.sweep, this.timeoutMs).unref();
  }

  /** Forgets calls older than the timeout (their callers' bridges have given up on them). */
  private readonly sweep = (): void => {
    this.sweepTimer = undefined;
    const now = performance.now();
    for (const [serial, w] of this.waiting) {
      if (w.deadline > now) break;
      this.waiting.delete(serial);
    }
    if (this.waiting.size > 0) this.sweepTimer = setTimeout(this.sweep, this.timeoutMs).unref();
    else this.draining?.();
  };

  private respond(msg: Msg, bytes: Uint8Array, header: MessageHeader): void {
    const max = this.nc.info?.max_payload ?? Infinity;
    if (header.unixFds) {
      this.respondError(msg, ErrorNames.NotSupported, 'fastbus bridge: the reply carries unix fds, which cannot cross machines');
    } else if (bytes.length > max) {
      this.respondError(msg, ErrorNames.LimitsExceeded, `fastbus bridge: the reply is ${bytes.length} bytes, over the NATS server's max_payload of ${max} bytes`);
    } else msg.respond(bytes);
  }

  private respondError(msg: Msg, errorName: string, text: string): void {
    msg.respond(encodeMessage({ type: MessageType.ERROR, flags: 0, serial: 1, replySerial: 1, errorName, signature: 's', body: [text] }));
  }

  /** Joins or leaves NAME's queue group. */
  private serve(name: string, on: boolean): void {
    const sub = this.subscriptions.get(name);
    if (on && sub === undefined && !this.leaving) {
      this.subscriptions.set(name, this.nc.subscribe(callSubject(this.prefix, name), {
        queue: EXPORT_QUEUE,
        callback: (error, msg) => {
          if (!error) this.forward(name, msg);
        },
      }));
    } else if (!on && sub !== undefined) {
      this.subscriptions.delete(name);
      // Calls already delivered still go to the bus, which answers them (ServiceUnknown, or the new owner).
      void sub.drain().catch(() => undefined);
    }
  }

  private ownerChanged(bytes: Uint8Array): void {
    // NameOwnerChanged(sss): small, from the bus itself; decoded for its names.
    let name: string;
    let newOwner: string;
    try {
      const body = decodeStrings(bytes);
      [name, , newOwner] = body;
    } catch {
      return;
    }
    if (this.names.includes(name)) this.setOwner(name, newOwner);
  }

  private setOwner(name: string, owner: string): void {
    this.serve(name, owner !== '');
    const old = this.ownerOf.get(name);
    if (old !== undefined) {
      const set = this.owned.get(old);
      set?.delete(name);
      if (set?.size === 0) this.owned.delete(old);
    }
    this.ownerOf.set(name, owner);
    if (owner === '') return;
    let set = this.owned.get(owner);
    if (!set) this.owned.set(owner, (set = new Set()));
    set.add(name);
  }
}

function decodeStrings(bytes: Uint8Array): string[] {
  const m = decodeMessage(bytes);
  if (m.signature !== 'sss') throw new Error('not (sss)');
  return m.body as string[];
}
