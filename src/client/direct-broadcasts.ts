// Broadcasts the bus does not need, the sender's side (docs/direct.md,
// "Signals the bus does not need"): a fastbus bus gives each connection that
// enabled the direct path a page with one word, which says whether anyone the
// connection does not reach on a channel could want its broadcast signals,
// and how many of its markers (Switched, Unswitched, Revoked) the bus had read
// when it decided. A broadcast leaves the bus out only when the word says
// "nobody" for exactly the markers sent so far: while a marker is on its way,
// the bus's view of which peers get our signals on channels is not ours.
import { SharedWord } from '../channel/shared-word.js';
import { fdClose } from '../native/native.js';
import type { Message } from '../wire/index.js';

const MARKERS: ReadonlySet<string> = new Set(['Switched', 'Unswitched', 'Revoked']);
/** Markers are counted mod 2^31, as the bus counts them. */
const MARKER_MASK = 0x7fffffff;

/** One connection's broadcast word, as the bus writes it. */
export class DirectBroadcasts {
  private word: SharedWord | undefined;
  private markers = 0;
  /** The word's value when the bus needs none of our broadcasts and has read every marker we sent. */
  private nobody = 1;

  /** A call to the bus's Direct1 interface is going out: counts it if it is a marker. */
  telling(member: string): void {
    if (!MARKERS.has(member)) return;
    this.markers = (this.markers + 1) & MARKER_MASK;
    this.nobody = (this.markers << 1) | 1;
  }

  /** The bus's Broadcasts signal: maps its page (and closes the fds it came with). */
  take(msg: Message): void {
    const fds = msg.fds ?? [];
    const fd = fds[msg.body[0] as number];
    try {
      if (fd !== undefined) {
        const word = SharedWord.open(fd);
        this.word?.close();
        this.word = word;
      }
    } catch {
      // Without the word every broadcast passes the bus, as before.
    } finally {
      for (const f of fds) fdClose(f);
    }
  }

  /** Whether the bus needs none of our broadcasts now (read before each one, after any marker it sends). */
  unneeded(): boolean {
    return this.word !== undefined && this.word.load() === this.nobody;
  }

  close(): void {
    this.word?.close();
    this.word = undefined;
  }
}
