// One fastbus peer this connection talks to over a channel the bus granted
// (docs/direct.md): who it is (as the bus vouched), the channel, and where
// each direction stands. Outbound: 'offered' until the bus says Go, then
// 'direct' (our marker went through the bus; traffic to the peer uses the
// channel), 'ended' once the channel was revoked (our end frame is on it and
// our marker Revoked went to the bus), 'closed' after a failure. Inbound: the
// channel stays paused ('waiting') until the peer's marker arrives through
// the bus, so nothing the peer sent through the bus before its switch is
// overtaken by what it sent on the channel; after a revocation, the peer's
// messages from the bus wait ('draining') until its end frame is read.
import type { Channel } from '../channel/index.js';
import type { GrantState } from '../channel/granted-ends.js';
import type { MatchRule } from '../match/index.js';
import { HeaderMemo, type Message } from '../wire/index.js';

/** Where one direction of a pair stands. */
export type OutboundState = 'offered' | 'direct' | 'ended' | 'closed';
export type InboundState = 'waiting' | 'open' | 'draining' | 'closed';

/** A granted peer, keyed by its unique name. */
export class DirectPeer {
  out: OutboundState = 'offered';
  in: InboundState = 'waiting';
  /** We sent our marker (Switched): the peer reads our side of the channel. */
  switchedOnce = false;
  /** The peer's marker came (PeerSwitched): we read its side. */
  peerSwitched = false;
  /** After a revocation: we wrote our fin frame (we bounce nothing more), the peer wrote its. */
  finSent = false;
  peerFin = false;
  /** While draining: the peer's messages from the bus, delivered once its end frame is read. */
  held: Message[] | undefined;
  /** The peer's match rules as its last rules frame said (undefined: unparseable, copy everything), and that frame's version. */
  peerRules: MatchRule[] | undefined = [];
  peerRulesVersion = 0;
  /** peerWants' last answer, for these rules and a broadcast with these names (see wantsByNames). */
  readonly wantsCache = { rules: undefined as MatchRule[] | undefined, path: '', interface: '', member: '', wants: false };
  /** Well-known names the bus says the peer owns now. */
  readonly names = new Set<string>();
  /** Every name the peer owned while granted (a reply to a call sent to one of them may come back on the channel). */
  readonly everNames = new Set<string>();
  /** Messages sent and received on the channel. */
  sent = 0;
  received = 0;
  /** Bytes of calls waiting for ring room (bounded like the bus's queue for the peer). */
  queuedBytes = 0;
  /** The next bytes frame from the peer is one of ours it bounced (it no longer owns the name). */
  bouncing = false;
  /** The bus said the peer left: input from the bus waits until the channel has delivered everything. */
  gone = false;
  /** The channel's socket hung up (the peer left, or the socket broke under two live ends). */
  hungUp = false;
  /** The last header that came on the channel: a peer repeats its headers (a flood of one signal). */
  readonly headerMemo = new HeaderMemo();

  constructor(
    readonly uniqueName: string,
    readonly uid: number,
    readonly pid: number,
    readonly channel: Channel,
    /** The bus's flags for the channel: revoked is read before each send. */
    readonly grant: GrantState,
  ) {}

  /** Whether a reply the peer sends may settle a call to `destination` (its unique name or a name it owned). */
  answersFor(destination: string | undefined): boolean {
    return destination === this.uniqueName || (destination !== undefined && this.everNames.has(destination));
  }
}
