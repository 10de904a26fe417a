// Why a channel closed, and the error a send or receive on a closed channel gets.

/** Why a channel closed. */
export type CloseReason = 'closed' | 'peer-closed' | 'peer-exited' | 'error';

/** A send or receive on a channel that is closed (or closed meanwhile). */
export class ChannelClosedError extends Error {
  readonly code = 'ERR_CHANNEL_CLOSED';
  readonly reason: CloseReason;
  constructor(reason: CloseReason, detail?: string) {
    super(`channel closed (${reason})${detail ? `: ${detail}` : ''}`);
    this.name = 'ChannelClosedError';
    this.reason = reason;
  }
}
