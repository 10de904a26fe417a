// The counters a channel end keeps, for tests and monitoring.

/** Counters for tests and monitoring. */
export interface ChannelStats {
  messagesSent: number;
  messagesReceived: number;
  cmaTransfers: number;
  memfdTransfers: number;
  arenaTransfers: number;
  chunkedTransfers: number;
  /** Payloads the payload arena could not hold whole, sent through it in pieces. */
  piecedTransfers: number;
  doorbellsRung: number;
  /** Fds (raw or under handles) passed with messages, and received with them. */
  handlesSent: number;
  handlesReceived: number;
}

/** All counters at zero. */
export function emptyStats(): ChannelStats {
  return { messagesSent: 0, messagesReceived: 0, cmaTransfers: 0, memfdTransfers: 0, arenaTransfers: 0, chunkedTransfers: 0, piecedTransfers: 0, doorbellsRung: 0, handlesSent: 0, handlesReceived: 0 };
}
