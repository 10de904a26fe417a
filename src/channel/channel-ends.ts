// What listen, connect and fork hand a new channel end: the segment, the
// socket (and a poller already watching it), both doorbells, the peer's pid.
import { pollOpen, type PollHandle } from '../native/native.js';
import type { ExposedBuffer } from '../cma/index.js';
import type { Segment } from './segment.js';

/** What a side needs to run its end of a channel (made by listen, connect, fork). */
export interface ChannelEnds {
  side: 0 | 1;
  segment: Segment;
  sock: number;
  selfEfd: number;
  peerEfd: number;
  peerPid: number;
  /** A poller already watching `sock`; the channel takes it over. */
  sockWatch?: SocketWatch;
  /** The exposed probe buffer this side published in the header. */
  probeExposure: ExposedBuffer;
}

/** A libuv poller on the socket whose handler can be replaced. */
export class SocketWatch {
  handle: PollHandle;
  onEvent: (status: number, events: number) => void = () => {};
  constructor(fd: number, events: number) {
    this.handle = pollOpen(fd, events, (status, events) => this.onEvent(status, events));
  }
}
