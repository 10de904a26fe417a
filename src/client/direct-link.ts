// A connection's link to the direct path (docs/direct.md): asks the bus for it
// (org.fastbus.Direct1.Enable), gives the channels' side (DirectPeers) what it
// needs of the connection (the DirectHost seam), and holds the connection's
// input from the bus while a departed peer's channel drains, so that what the
// peer sent on it comes before the bus's news of its leaving.
import { DIRECT_INTERFACE } from '../names/index.js';
import {
  decodeMessage, encodeMessageParts, joinParts, MessageEncoder, MessageFlags, MessageType, type DecodeMessageOptions, type HeaderMemo, type Message,
} from '../wire/index.js';
import type { DirectPeerInfo } from './connection-options.js';
import type { DirectHost } from './direct-host.js';
import type { DirectPeer } from './direct-peer.js';
import { DirectPeers } from './direct-peers.js';
import { DBusError, ErrorNames } from './errors.js';
import type { PendingCalls } from './pending-calls.js';
import { sendChannel } from './diagnostics-channels.js';

const DBUS = 'org.freedesktop.DBus';
const DBUS_PATH = '/org/freedesktop/DBus';
/** `ay` values from this size on are copied straight into a direct channel's payload arena, not into the encoded message first. */
const LARGE_VALUE_BYTES = 64 * 1024;
/** Messages for the direct path up to this size are encoded into one reused buffer (see writeDirect). */
const VIEW_MAX_BYTES = 16 * 1024;
const viewEncoder = new MessageEncoder();
/** A message encoded by viewEncoder is being routed (its bytes must stay until routed). */
let viewInUse = false;

/** What the link needs of its connection: its public side, and a few of its parts. */
export interface LinkedConnection {
  readonly connection: {
    readonly uniqueName: string;
    readonly closed: boolean;
    readonly decodeOptions: { dictAsObject: boolean };
    send(message: Message): number;
    callMethod(call: { destination: string; path: string; interface: string; member: string }): Promise<unknown[]>;
  };
  readonly calls: PendingCalls;
  /** Queues bytes on the bus socket, with fds that stay the caller's, or (`ours`) that are closed once sent. */
  busSend(bytes: Uint8Array, fds: number[] | undefined, ours: boolean): void;
  /** Handles a message from the bus (`from` undefined) or a direct peer. */
  dispatch(msg: Message, from: DirectPeer | undefined): void;
  /** Handles a message from the bus, in order (held again if a new hold began). */
  handle(msg: Message): void;
  matchRules(): string[];
}

/** The direct path of one connection. */
export class DirectLink {
  /** The channels' side, once the bus accepted the direct path. */
  peers: DirectPeers | undefined = undefined;
  /** Messages from the bus waiting while a departed direct peer's channel drains, and how many such waits run. */
  private heldInput: Message[] | undefined = undefined;
  private holds = 0;

  constructor(private readonly c: LinkedConnection) {}

  /** Asks the bus for the direct path; resolves with whether it agreed (a bus without the extension answers an error: nothing changes). */
  async enable(busy: boolean): Promise<boolean> {
    const peers = new DirectPeers(this.host(), { busy });
    // Set before asking: the bus's first grant may follow its reply in the same read.
    this.peers = peers;
    try {
      await this.c.connection.callMethod({ destination: DBUS, path: DBUS_PATH, interface: DIRECT_INTERFACE, member: 'Enable' });
      return true;
    } catch {
      if (this.peers === peers) this.peers = undefined;
      return false;
    }
  }

  /**
   * Sends `msg` (its serial set) on a channel when `peers` route it there, else through the bus;
   * returns the direct peer it went to (undefined: the bus). Throws EncodeError, or DBusError
   * LimitsExceeded for a call the peer's queue cannot take.
   */
  send(peers: DirectPeers, msg: Message, fds: number[] | undefined): string | undefined {
    // Large `ay` values stay out of the encoded bytes: a channel copies them once, into its arena.
    // A small message is a view of one reused buffer, which a channel copies into its ring (a send
    // made while routing one, such as a revocation's marker, encodes into a buffer of its own).
    const nested = viewInUse;
    const parts = nested ? encodeMessageParts(msg, LARGE_VALUE_BYTES) : viewEncoder.encodeParts(msg, LARGE_VALUE_BYTES, VIEW_MAX_BYTES);
    const borrowed = !nested && parts instanceof Uint8Array && parts.length <= VIEW_MAX_BYTES;
    if (sendChannel.hasSubscribers) sendChannel.publish({ connection: this.c.connection, message: msg });
    let via: string | undefined;
    viewInUse = !nested;
    try {
      via = peers.route(msg, parts, fds, borrowed);
    } finally {
      viewInUse = nested;
    }
    if (via === undefined) this.c.busSend(parts instanceof Uint8Array ? (borrowed ? Buffer.from(parts) : parts) : joinParts(parts), fds, false);
    return via;
  }

  /** Whether `msg` from the bus must wait (input is held); it is then kept, in order. */
  held(msg: Message): boolean {
    if (this.heldInput === undefined) return false;
    this.heldInput.push(msg);
    return true;
  }

  /** The peers with a channel (for diagnostics and tests). */
  list(): DirectPeerInfo[] {
    return (this.peers?.list() ?? []).map((p) => ({
      uniqueName: p.uniqueName, uid: p.uid, pid: p.pid, switched: p.out === 'direct', peerSwitched: p.in === 'open', sent: p.sent, received: p.received,
    }));
  }

  /** Whether traffic to `uniqueName` travels a direct channel now. */
  isDirect(uniqueName: string): boolean {
    const p = this.peers?.peer(uniqueName);
    // A channel the bus revoked is no longer used, even before the next send notices.
    return p?.out === 'direct' && !p.grant.revoked;
  }

  /** Decoding options for messages of the peer whose header memo is `memo` (the last peer's, kept: no object per message). */
  private optionsFor(memo: HeaderMemo | undefined): DecodeMessageOptions {
    if (this.lastOptions === undefined || this.lastOptions.memo !== memo) {
      this.lastOptions = { dictAsObject: this.c.connection.decodeOptions.dictAsObject, zeroCopy: false, memo };
    }
    return this.lastOptions;
  }

  private lastOptions: DecodeMessageOptions | undefined = undefined;

  private host(): DirectHost {
    const c = this.c;
    const conn = c.connection;
    return {
      get uniqueName() { return conn.uniqueName; },
      busSend: (bytes, fds) => c.busSend(bytes, fds, true),
      tellBus: (member, signature, body) => {
        if (conn.closed) return;
        conn.send({ type: MessageType.METHOD_CALL, flags: MessageFlags.NO_REPLY_EXPECTED, serial: 0, destination: DBUS, path: DBUS_PATH, interface: DIRECT_INTERFACE, member, signature, body });
      },
      decode: (bytes, owned, memo) => decodeMessage(bytes, owned === true ? { dictAsObject: conn.decodeOptions.dictAsObject, zeroCopy: true, memo } : this.optionsFor(memo)) as unknown as Message,
      dispatchDirect: (msg, peer) => c.dispatch(msg, peer),
      failCallsTo: (peer) => {
        c.calls.failAll(() => new DBusError(ErrorNames.NoReply, 'Message recipient disconnected from message bus without replying'), (p) => p.via === peer);
      },
      callRerouted: (serial) => {
        const p = c.calls.get(serial);
        if (p) p.via = undefined;
      },
      holdInput: (hold) => {
        if (hold) {
          this.holds++;
          this.heldInput ??= [];
          return;
        }
        if (--this.holds > 0) return;
        const held = this.heldInput ?? [];
        this.heldInput = undefined;
        // A new hold started while these are handled queues the rest behind it, in order.
        for (const m of held) c.handle(m);
      },
      matchRules: () => c.matchRules(),
      redeliver: (msg) => {
        if (!this.peers?.fromBus(msg)) c.dispatch(msg, undefined);
      },
      log: (line) => console.warn(line),
    };
  }
}
