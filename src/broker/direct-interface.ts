// org.fastbus.Direct1 on the wire (docs/broker.md, docs/direct.md): the calls
// an end makes to the bus (Enable, Accept, Decline, Switched, Unswitched,
// Revoked, ListPairs, Answered), each checked for its signature before
// DirectGrants acts on it, and the signals the bus sends an end (Grant, Go,
// Revoke, PeerSwitched, PeerRevoked, PeerGone, OwnerChanged).
import { DIRECT_INTERFACE } from '../names/index.js';
import { MessageType, type DecodedMessage } from '../wire/index.js';
import { MARKERS } from './broadcast-needs.js';
import { BusErrors } from './bus-error.js';
import type { Connection } from './connection.js';
import type { DirectGrants, GrantsHost } from './direct-grants.js';
import type { SharedFds } from './shared-fds.js';
import { DRIVER_PATH } from './driver-names.js';

/** The extension's version, Enable's answer (2: channels can be revoked; 3: the broadcast word). */
const DIRECT_VERSION = 3;

/** The extension's calls and signals, for one bus's grants. */
export class DirectInterface {
  constructor(private readonly grants: DirectGrants, private readonly host: GrantsHost) {}

  /** Handles a call to org.fastbus.Direct1 (addressed to the bus). */
  call(conn: Connection, msg: DecodedMessage): void {
    const sig = msg.signature ?? '';
    const body = msg.body;
    const expect = (s: string): boolean => {
      if (sig === s) return true;
      this.host.replyError(conn, msg, BusErrors.InvalidArgs, `Call to ${msg.member} has wrong args (${sig}, expected ${s})`);
      return false;
    };
    // Counted whatever they say: the sender compares the count with the markers it sent.
    if (MARKERS.has(msg.member!)) this.host.broadcasts.marker(conn);
    switch (msg.member) {
      case 'Enable':
        if (!expect('')) return;
        if (!conn.unixFd || conn.credentials === undefined || conn.stream.kind !== 'unix') {
          this.host.replyError(conn, msg, BusErrors.NotSupported, 'The direct path needs a unix socket that passes fds');
          return;
        }
        this.grants.enable(conn);
        this.host.reply(conn, msg, 'u', [DIRECT_VERSION]);
        return;
      case 'Accept':
        if (expect('s')) this.grants.accept(conn, body[0] as string);
        return;
      case 'Decline':
        if (expect('ss')) this.grants.decline(conn, body[0] as string, body[1] as string);
        return;
      case 'Switched':
        if (expect('s')) this.grants.switched(conn, body[0] as string);
        return;
      case 'Unswitched':
        if (expect('s')) this.grants.unswitched(conn, body[0] as string);
        return;
      case 'Revoked':
        if (expect('s')) this.grants.revoked(conn, body[0] as string);
        return;
      case 'ListPairs':
        if (!expect('')) return;
        this.host.reply(conn, msg, 'a(ssstt)', [this.grants.livePairs().map((p) => [p.a.uniqueName!, p.b.uniqueName!, p.state, BigInt(p.bytesAB), BigInt(p.bytesBA)])]);
        return;
      case 'Answered': {
        if (!expect('su')) return;
        const caller = this.host.lookup(body[0] as string);
        if (caller !== undefined) this.host.forgetCall(conn, caller, body[1] as number);
        return;
      }
      default:
        this.host.replyError(conn, msg, BusErrors.UnknownMethod, `${DIRECT_INTERFACE} does not understand message ${msg.member}`);
    }
  }

  /** Sends `target` one of the extension's signals. */
  notify(target: Connection, member: string, signature: string, body: unknown[], fds?: SharedFds): void {
    this.host.sendFromBus(target, { type: MessageType.SIGNAL, flags: 0, serial: 0, path: DRIVER_PATH, interface: DIRECT_INTERFACE, member, signature, body }, fds);
  }
}
