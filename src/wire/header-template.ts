// What an Encoder keeps of the last header it wrote, to copy repeated fields.

/**
 * The header-field bytes of a message (from offset 16 to the end of its last
 * field) and the values they were written from: a client repeats its calls'
 * path, interface, member, destination and signature, a service its replies'
 * destination and signature, so their fields are copied, not written again.
 * REPLY_SERIAL (at `replySerialAt`, -1 if absent) is patched per message.
 */
export interface HeaderTemplate {
  little: boolean;
  path: string | undefined;
  interface: string | undefined;
  member: string | undefined;
  errorName: string | undefined;
  destination: string | undefined;
  sender: string | undefined;
  signature: string | undefined;
  unixFds: number;
  replySerialAt: number;
  /** undefined until the same values are written twice in a row (a broker's changing headers never allocate). */
  bytes: Uint8Array | undefined;
}
