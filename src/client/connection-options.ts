// The shapes a client connection takes and gives: connection and call options,
// outgoing messages and method calls, RequestName/ReleaseName codes, and what
// a direct peer looks like from the outside.
import type { Message } from '../wire/index.js';

/** RequestName flags. */
export const NameFlags = { ALLOW_REPLACEMENT: 1, REPLACE_EXISTING: 2, DO_NOT_QUEUE: 4 } as const;
/** RequestName replies. */
export const RequestNameReply = { PRIMARY_OWNER: 1, IN_QUEUE: 2, EXISTS: 3, ALREADY_OWNER: 4 } as const;
/** ReleaseName replies. */
export const ReleaseNameReply = { RELEASED: 1, NON_EXISTENT: 2, NOT_OWNER: 3 } as const;

export interface ConnectionOptions {
  /** Default timeout of calls (25000 ms, as libdbus). */
  timeoutMs?: number;
  /** Timeout of connecting, authenticating and Hello (default 25000 ms). */
  connectTimeoutMs?: number;
  /** Ask for unix fd passing (default: on unix sockets). */
  negotiateUnixFd?: boolean;
  /** Dicts with string keys decode as plain objects instead of Maps (default true). */
  dictAsObject?: boolean;
  /** Skip Hello: for a peer-to-peer connection (no bus). */
  peer?: boolean;
  /**
   * The direct path (docs/direct.md): 'auto' (the default) lets a fastbus bus
   * grant this connection channels to other fastbus peers (on other buses it
   * changes nothing); 'off' keeps all traffic on the bus.
   */
  direct?: 'auto' | 'off';
  /** Direct channels poll instead of sleeping (one core per channel end; lowest latency). */
  directBusy?: boolean;
}

/** A peer this connection talks to over a direct channel, with what travelled it. */
export interface DirectPeerInfo {
  uniqueName: string;
  uid: number;
  pid: number;
  /** Whether our traffic to it uses the channel now (else: granted, not yet switched). */
  switched: boolean;
  /** Whether its traffic to us uses the channel now. */
  peerSwitched: boolean;
  sent: number;
  received: number;
}

/** A message to send: serial is assigned; flags default to 0. */
export type OutgoingMessage = Omit<Message, 'serial' | 'flags' | 'body'> & { flags?: number; body?: unknown[] };

export interface CallOptions {
  /** Timeout in ms; default the connection's `timeoutMs`. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Unix fds to pass; `h` values index into them. */
  fds?: number[];
}

/** A method call in the form `call()` takes. */
export interface MethodCall {
  destination?: string;
  path: string;
  interface?: string;
  member: string;
  signature?: string;
  body?: unknown[];
  flags?: number;
}

/** @internal What a call resolves with: the reply message, nothing, its first body value, or its body. */
export const enum ReplyPick { MESSAGE, NOTHING, FIRST, BODY }
