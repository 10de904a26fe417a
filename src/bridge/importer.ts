// The importing side of a bridge: owns well-known names on the local bus and
// carries the calls made to them over NATS (request/reply on
// `PREFIX.call.NAME`, replies to one inbox subscription, a token per call, one
// timer for all: no promise or timer per call); the reply comes back as
// message bytes and is sent to the caller under a new header (its serial, the
// caller as destination).
// Signals published on `PREFIX.signal.NAME` are re-emitted on the bus, where
// the bus delivers them to the local match rules with sender NAME.
import { createInbox, type Msg, type NatsConnection, type Subscription } from 'nats';
import { checkMessage, MessageFlags, MessageType, type MessageHeader } from '../wire/index.js';
import { ErrorNames, RequestNameReply } from '../client/index.js';
import type { BusLink } from './bus-link.js';
import { reheader } from './reheader.js';
import { callSubject, signalSubject } from './subjects.js';

const DO_NOT_QUEUE = 4;
/** The status a server sends to a request's reply subject when the subject has no subscriber. */
const NO_RESPONDERS = 503;

interface Waiting {
  call: MessageHeader;
  name: string;
  deadline: number;
}

/** A bridge's imported names: local calls out to NATS, replies and signals in. */
export class Importer {
  private readonly subscriptions: Subscription[] = [];
  private readonly nameSet: ReadonlySet<string>;
  private readonly subjects = new Map<string, string>();
  /** Replies arrive on `inbox.TOKEN`. */
  private readonly inbox = createInbox();
  private nextToken = 0;
  /** Calls sent, by token, in the order sent (so in the order of their deadlines). */
  private readonly waiting = new Map<string, Waiting>();
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly bus: BusLink,
    private readonly prefix: string,
    private readonly names: readonly string[],
    private readonly timeoutMs: number,
    private readonly log: (line: string) => void,
  ) {
    this.nameSet = new Set(names);
    for (const n of names) this.subjects.set(n, callSubject(prefix, n));
  }

  /** Subscribes to the names' signals, then takes the names on the bus (refusing to queue behind another owner). */
  async start(): Promise<void> {
    this.subscriptions.push(this.nc.subscribe(`${this.inbox}.*`, {
      callback: (error, msg) => {
        if (!error) this.reply(msg);
      },
    }));
    for (const name of this.names) {
      this.subscriptions.push(this.nc.subscribe(signalSubject(this.prefix, name), {
        callback: (error, msg) => {
          if (!error) this.signal(name, msg.data);
        },
      }));
    }
    await this.nc.flush();
    for (const name of this.names) {
      const [code] = await this.bus.callDriver('RequestName', 'su', [name, DO_NOT_QUEUE]);
      if (code !== RequestNameReply.PRIMARY_OWNER && code !== RequestNameReply.ALREADY_OWNER) {
        throw new Error(`bridge: cannot import ${name}: the name is already owned on the local bus`);
      }
    }
  }

  /** Handles a message from the bus; returns false when it is not a call to an imported name. */
  receive(bytes: Uint8Array, header: MessageHeader): boolean {
    if (header.type !== MessageType.METHOD_CALL) return false;
    const dest = header.destination;
    let name: string | undefined;
    if (dest !== undefined && this.nameSet.has(dest)) name = dest;
    else if (dest === this.bus.uniqueName && this.names.length === 1) {
      // Called by the bridge's unique name: there is only one service it can mean.
      name = this.names[0];
      bytes = reheader(bytes, header, { ...header, destination: name });
    } else return false;
    const noReply = (header.flags & MessageFlags.NO_REPLY_EXPECTED) !== 0;
    const what = `${header.interface ?? ''}${header.interface ? '.' : ''}${header.member ?? ''}`;
    if (header.unixFds) {
      if (!noReply) this.bus.replyError(header, ErrorNames.NotSupported, `fastbus bridge: the call ${what} to ${name} carries ${header.unixFds} unix fd(s); fds cannot cross machines over NATS`);
      return true;
    }
    const max = this.nc.info?.max_payload ?? Infinity;
    if (bytes.length > max) {
      if (!noReply) this.bus.replyError(header, ErrorNames.LimitsExceeded, `fastbus bridge: the call ${what} to ${name} is ${bytes.length} bytes, over the NATS server's max_payload of ${max} bytes`);
      return true;
    }
    const subject = this.subjects.get(name)!;
    if (noReply) {
      this.nc.publish(subject, bytes);
      return true;
    }
    const token = (this.nextToken++).toString(36);
    this.waiting.set(token, { call: header, name, deadline: performance.now() + this.timeoutMs });
    this.nc.publish(subject, bytes, { reply: `${this.inbox}.${token}` });
    this.sweepTimer ??= setTimeout(this.sweep, this.timeoutMs);
    return true;
  }

  close(): void {
    for (const s of this.subscriptions) s.unsubscribe();
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    this.waiting.clear();
  }

  private reply(msg: Msg): void {
    const token = msg.subject.slice(this.inbox.length + 1);
    const w = this.waiting.get(token);
    if (w === undefined) return; // late (after NoReply) or not ours
    this.waiting.delete(token);
    if (msg.data.length === 0 && msg.headers?.code === NO_RESPONDERS) {
      this.bus.replyError(w.call, ErrorNames.ServiceUnknown, `The name ${w.name} is not exported by any bridge on NATS (no responder on ${this.subjects.get(w.name)})`);
    } else this.replied(w.call, w.name, msg.data);
  }

  /** Ends the calls whose deadline passed with NoReply, then waits for the oldest left. */
  private readonly sweep = (): void => {
    this.sweepTimer = undefined;
    const now = performance.now();
    for (const [token, w] of this.waiting) {
      if (w.deadline > now) {
        this.sweepTimer = setTimeout(this.sweep, Math.max(1, Math.ceil(w.deadline - now)));
        return;
      }
      this.waiting.delete(token);
      this.bus.replyError(w.call, ErrorNames.NoReply, `fastbus bridge: no reply from ${w.name} over NATS within ${this.timeoutMs} ms`);
    }
  };

  private replied(call: MessageHeader, name: string, data: Uint8Array): void {
    if (this.bus.closed || call.sender === undefined) return;
    let h: MessageHeader;
    try {
      h = checkMessage(data);
      if (h.type !== MessageType.METHOD_RETURN && h.type !== MessageType.ERROR) throw new Error(`a message of type ${h.type}`);
      if (h.unixFds) throw new Error('a reply with unix fds');
    } catch (e) {
      this.log(`bridge: a malformed reply from NATS for ${name}: ${(e as Error).message}`);
      this.bus.replyError(call, ErrorNames.Failed, `fastbus bridge: a malformed reply from ${name} over NATS: ${(e as Error).message}`);
      return;
    }
    this.bus.sendBytes(reheader(data, h, {
      type: h.type, flags: h.flags, serial: this.bus.nextSerial(), replySerial: call.serial, destination: call.sender,
      errorName: h.errorName, signature: h.signature,
    }));
  }

  private signal(name: string, data: Uint8Array): void {
    if (this.bus.closed) return;
    const bytes = new Uint8Array(data);
    try {
      const h = checkMessage(bytes);
      if (h.type !== MessageType.SIGNAL || h.destination !== undefined || h.unixFds) throw new Error('not a broadcast signal without fds');
    } catch (e) {
      this.log(`bridge: dropped a malformed signal of ${name} from NATS: ${(e as Error).message}`);
      return;
    }
    this.bus.sendFrame(bytes);
  }
}
