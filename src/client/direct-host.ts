// What the direct path (direct-peers.ts) needs from its connection, and its
// options: the one seam between the two, so that either can be read alone.
import type { HeaderMemo, Message } from '../wire/index.js';
import type { DirectPeer } from './direct-peer.js';

/** What DirectPeers needs from its connection. */
export interface DirectHost {
  readonly uniqueName: string;
  /** Queues a message's bytes on the bus socket, with fds it closes once sent. */
  busSend(bytes: Uint8Array, fds?: number[]): void;
  /** Tells the bus something: a Direct1 call that expects no reply. */
  tellBus(member: string, signature: string, body: unknown[]): void;
  /**
   * Decodes a message; `owned`: the bytes are the caller's for ever (a large message the
   * channel landed in memory of its own), so `ay` values may be views of them rather than copies;
   * `memo`: the last header from the same peer (a repeated one is not parsed again).
   */
  decode(bytes: Uint8Array, owned?: boolean, memo?: HeaderMemo): Message;
  /** Handles a message that arrived on a channel (sender already stamped). */
  dispatchDirect(msg: Message, peer: DirectPeer): void;
  /** Rejects the calls sent on the channel to `peer` with the bus's NoReply. */
  failCallsTo(peer: string): void;
  /** A call sent on a channel was sent again through the bus. */
  callRerouted(serial: number): void;
  /** Holds (true) or releases (false) input from the bus. */
  holdInput(hold: boolean): void;
  /** The match rules this connection holds on the bus now. */
  matchRules(): string[];
  /** Handles a message from the bus that was held while a revoked channel drained. */
  redeliver(msg: Message): void;
  log(line: string): void;
}

/** Options of the direct path. */
export interface DirectOptions {
  /** Channels poll instead of sleeping (one core per channel end, lowest latency). */
  busy?: boolean;
}
