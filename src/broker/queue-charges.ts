// Who pays for the bytes and fds waiting in one connection's queue. Each
// queued message is charged to one user's account: the sender's for what it
// chose to send (calls, unicast signals), the receiver's for what it asked
// for (replies to its calls, signals its rules match, copies it monitors,
// the bus's answers). Charges are kept in queue order, consecutive ones of one
// payer merged, and credited back as the stream reports bytes written.
import type { MessageStream } from '../transport/index.js';
import type { UserAccount } from './user-accounts.js';

/** One payer's run of bytes and fds in the queue, not yet written. */
interface Charge {
  payer: UserAccount;
  bytes: number;
  fds: number;
}

/** The charges of one connection's outgoing queue, oldest first. */
export class QueueCharges {
  private readonly runs: Charge[] = [];
  private head = 0;
  /** The stream's queued bytes and fds as of the last charge or settle: what it wrote since is the difference. */
  private leftBytes = 0;
  private leftFds = 0;

  constructor(private readonly stream: MessageStream) {
    this.leftBytes = stream.queuedBytes;
    this.leftFds = stream.queuedFds;
  }

  /** Whether anything is charged. */
  get pending(): boolean {
    return this.head < this.runs.length;
  }

  /** Charges `payer` for a message queued now (after settle(), so that what was written before is not taken for it). */
  charge(payer: UserAccount, bytes: number, fds: number): void {
    payer.queuedBytes += bytes;
    payer.queuedFds += fds;
    this.leftBytes += bytes;
    this.leftFds += fds;
    const runs = this.runs;
    const last = runs.length > this.head ? runs[runs.length - 1] : undefined;
    if (last !== undefined && last.payer === payer) {
      last.bytes += bytes;
      last.fds += fds;
    } else runs.push({ payer, bytes, fds });
  }

  /** Credits back what the stream wrote since the last charge or settle, oldest charges first. */
  settle(): void {
    const s = this.stream;
    let bytes = this.leftBytes - s.queuedBytes;
    let fds = this.leftFds - s.queuedFds;
    if (bytes <= 0 && fds <= 0) return;
    this.leftBytes = s.queuedBytes;
    this.leftFds = s.queuedFds;
    const runs = this.runs;
    // Fds travel with the first byte of their message, so they may be written ahead of the bytes.
    for (let i = this.head; i < runs.length && fds > 0; i++) {
      const c = runs[i];
      const n = Math.min(fds, c.fds);
      c.fds -= n;
      c.payer.queuedFds -= n;
      fds -= n;
    }
    for (let i = this.head; i < runs.length && bytes > 0; i++) {
      const c = runs[i];
      const n = Math.min(bytes, c.bytes);
      c.bytes -= n;
      c.payer.queuedBytes -= n;
      bytes -= n;
    }
    while (this.head < runs.length && runs[this.head].bytes === 0 && runs[this.head].fds === 0) this.head++;
    this.compact();
  }

  /** Credits back everything (the queue was written out, or dropped at close). */
  creditAll(): void {
    const runs = this.runs;
    for (let i = this.head; i < runs.length; i++) {
      const c = runs[i];
      c.payer.queuedBytes -= c.bytes;
      c.payer.queuedFds -= c.fds;
    }
    runs.length = 0;
    this.head = 0;
    this.leftBytes = this.stream.queuedBytes;
    this.leftFds = this.stream.queuedFds;
  }

  /** Whether at least `bytes` bytes or `fds` fds of this queue are charged to `payer` (only asked once a payer is past its share). */
  holdsMuchOf(payer: UserAccount, bytes: number, fds: number): boolean {
    let b = 0;
    let f = 0;
    const runs = this.runs;
    for (let i = this.head; i < runs.length; i++) {
      const c = runs[i];
      if (c.payer !== payer) continue;
      b += c.bytes;
      f += c.fds;
    }
    return b >= bytes || (f > 0 && f >= fds);
  }

  /** The payers charged now (for forgetting emptied accounts after a close). */
  payers(): UserAccount[] {
    return this.runs.slice(this.head).map((c) => c.payer);
  }

  private compact(): void {
    const runs = this.runs;
    if (this.head === runs.length) {
      runs.length = 0;
      this.head = 0;
    } else if (this.head > 64 && this.head * 2 > runs.length) {
      runs.splice(0, this.head);
      this.head = 0;
    }
  }
}
