// The shape shared by every transport: a connection that starts in raw mode
// (bytes, for the SASL handshake) and then carries whole D-Bus messages.
// Writes queued in one tick leave in one system call; queued bytes are
// visible so that the owner can apply backpressure and limits.
import type { ReadGroup } from './read-group.js';

/** Callbacks a stream's owner sets. Each is called synchronously from the event loop, never from send(). */
export interface MessageStreamHandlers {
  /** Raw bytes received before startMessages() (the handshake). */
  onRaw?: (bytes: Uint8Array) => void;
  /** A whole message (its own bytes; fds, if any, wait in takeFds()). */
  onMessage?: (frame: Uint8Array) => void;
  /** The queue of outgoing bytes became empty. */
  onDrain?: () => void;
  /** The stream closed: `error` is set when it failed (peer's fault: ProtocolError; socket: SystemError). */
  onClose?: (error: Error | undefined) => void;
}

/** A framed, non-blocking connection. */
export interface MessageStream extends MessageStreamHandlers {
  /** 'unix' or 'tcp'. */
  readonly kind: 'unix' | 'tcp';
  /** Whether the socket can carry unix fds at all. */
  readonly fdCapable: boolean;
  /**
   * The group whose read budget per turn of the event loop this stream shares
   * (read-group.ts; undefined: none). Unix streams only: tcp streams read as node:net does.
   */
  readGroup: ReadGroup | undefined;
  /** Outgoing bytes queued and not yet written. */
  readonly queuedBytes: number;
  /** Outgoing fds queued and not yet written. */
  readonly queuedFds: number;
  readonly closed: boolean;
  /** Received messages longer than this own their bytes even when frames are borrowed (they may be kept). */
  readonly ownedFrameBytes: number;
  /** Messages larger than this close the stream with ProtocolError('MESSAGE_TOO_LONG'). */
  maxMessageBytes: number;
  /**
   * onMessage gets views of the receive buffer, valid only until it returns,
   * instead of copies (for owners that decode at once and keep no bytes).
   */
  borrowFrames: boolean;
  /** Leaves raw mode: `initial` holds the first message bytes already read. */
  startMessages(initial: Uint8Array): void;
  /**
   * Queues bytes (a message, or handshake text in raw mode) with fds that
   * travel with its first byte. `fdsDone`: true makes the stream close the
   * fds once sent (or dropped); a function is called then instead (for fds
   * shared by several sends). `written`, if given, may be called once the
   * stream no longer needs `bytes` (written or dropped), so that the caller
   * can reuse them; a stream that cannot tell never calls it. Never throws
   * for a closed stream (drops).
   */
  send(bytes: Uint8Array, fds?: readonly number[], fdsDone?: boolean | (() => void), written?: () => void): void;
  /** Takes `count` fds received with the current message; throws ProtocolError if fewer arrived. */
  takeFds(count: number): number[];
  /** Stops delivering messages (they stay in the socket: the kernel pushes back on the sender). */
  pause(): void;
  resume(): void;
  /** Lets the stream keep the process alive (the default), or not (`unref`): an idle connection need not hold Node open. */
  ref(): void;
  unref(): void;
  /** Closes now; queued bytes are dropped. Calls onClose once. */
  close(error?: Error): void;
}
