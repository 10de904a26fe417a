// One fastbus peer this connection talks to over a channel the bus granted
// (docs/direct.md): who it is (as the bus vouched), the channel, and where
// each direction stands. Outbound: 'offered' until the bus says Go, then
// 'direct' (our marker went through the bus; traffic to the peer uses the
// channel), 'closed' after a failure. Inbound: the channel stays paused until
// the peer's marker arrives through the bus, so nothing the peer sent through
// the bus before its switch is overtaken by what it sent on the channel.
import type { Channel } from '../channel/index.js';

/** Where one direction of a pair stands. */
export type OutboundState = 'offered' | 'direct' | 'closed';
export type InboundState = 'waiting' | 'open' | 'closed';

/** A granted peer, keyed by its unique name. */
export class DirectPeer {
  out: OutboundState = 'offered';
  in: InboundState = 'waiting';
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

  constructor(
    readonly uniqueName: string,
    readonly uid: number,
    readonly pid: number,
    readonly channel: Channel,
  ) {}

  /** Whether a reply the peer sends may settle a call to `destination` (its unique name or a name it owned). */
  answersFor(destination: string | undefined): boolean {
    return destination === this.uniqueName || (destination !== undefined && this.everNames.has(destination));
  }
}
