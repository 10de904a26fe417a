// The state both directions of one channel end share: the segment and its
// typed views, both ring ends, the settings and counters, where the end is in
// its life, and what the handshake learnt about the peer. The sending and
// receiving sides, the large-payload paths and the wait loop all hold it.
import type { EventEmitter } from 'node:events';
import { efdSignal } from '../native/native.js';
import type { ChannelEnds } from './channel-ends.js';
import type { ChannelSettings } from './channel-options.js';
import { emptyStats, type ChannelStats } from './channel-stats.js';
import { RingReader, RingWriter } from './ring.js';
import { SegmentHeader, type Segment } from './segment.js';

export class ChannelCore {
  readonly side: 0 | 1;
  readonly segment: Segment;
  readonly header: SegmentHeader;
  readonly u8: Uint8Array;
  readonly text: Buffer;
  readonly u32: Uint32Array;
  readonly f64: Float64Array;
  readonly u64: BigUint64Array;
  /** This side's outbound ring and the peer's (our inbound). */
  readonly writer: RingWriter;
  readonly reader: RingReader;
  readonly sock: number;
  readonly selfEfd: number;
  readonly peerEfd: number;
  readonly peerPid: number;
  readonly stats: ChannelStats = emptyStats();

  state: 'open' | 'closing' | 'closed' = 'open';
  paused = false;
  /** The socket hung up: the peer is gone once what it wrote is delivered. */
  hungUp = false;
  /** The segment is unmapped: nothing may touch the rings any more. */
  unmapped = false;
  /** The peer's verdict on reading this process by CMA (from the handshake). */
  peerCanReadMe: 'unknown' | 'yes' | 'no' = 'unknown';
  peerRefusal = '';

  constructor(ends: ChannelEnds, readonly settings: ChannelSettings, readonly events: EventEmitter) {
    this.side = ends.side;
    this.segment = ends.segment;
    this.header = new SegmentHeader(ends.segment.buffer);
    this.u8 = new Uint8Array(ends.segment.buffer);
    this.text = Buffer.from(ends.segment.buffer);
    this.u32 = new Uint32Array(ends.segment.buffer);
    this.f64 = new Float64Array(ends.segment.buffer);
    this.u64 = new BigUint64Array(ends.segment.buffer);
    this.writer = new RingWriter(ends.segment, ends.segment.rings[ends.side]);
    this.reader = new RingReader(ends.segment, ends.segment.rings[1 - ends.side]);
    this.sock = ends.sock;
    this.selfEfd = ends.selfEfd;
    this.peerEfd = ends.peerEfd;
    this.peerPid = ends.peerPid;
  }

  isClosed(): boolean {
    return this.state === 'closed';
  }

  /** Someone listens for 'message' (without one, nothing is read and the sender waits). */
  hasListener(): boolean {
    return this.events.listenerCount('message') !== 0;
  }

  /** Rings the peer's doorbell. */
  ring(): void {
    this.stats.doorbellsRung++;
    efdSignal(this.peerEfd, 1);
  }
}
