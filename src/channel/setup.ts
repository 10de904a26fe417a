// Building the two ends of a channel. The creating side (0: listener or
// parent) makes the segment and both doorbells; the attaching side (1)
// checks the segment it received. Each side publishes its pid and a small
// exposed probe buffer in the header, so its peer can test cross-memory attach.
import { exposeBuffer } from '../cma/index.js';
import { check, efdOpen, fdClose, shmUnmap } from '../native/native.js';
import { Channel, type ChannelOptions } from './channel.js';
import type { ChannelEnds, SocketWatch } from './channel-ends.js';
import { attachSegment, createSegment, SegmentHeader, type Segment } from './segment.js';

/** Default bytes per ring (each direction). */
export const DEFAULT_RING_BYTES = 1 << 20;

/** What side 0 holds before the peer attaches: fds to hand over, and its own ends. */
export interface CreatedEnds {
  segment: Segment;
  efds: [number, number];
  /** Closes everything (when the hand-over failed). */
  abandon(): void;
  probe: ReturnType<typeof exposeBuffer>;
}

/** Exposes a small probe buffer and publishes it, with this pid, as `side`'s in the header. */
export function publishProbe(segment: Segment, side: 0 | 1): ReturnType<typeof exposeBuffer> {
  const probe = exposeBuffer(new Uint8Array(64).fill(0x5a));
  new SegmentHeader(segment.buffer).publish(side, process.pid, probe.address);
  return probe;
}

/** Side 0: a new segment and two doorbells. */
export function createEnds(ringBytes: number = DEFAULT_RING_BYTES): CreatedEnds {
  const segment = createSegment(ringBytes);
  const efds: [number, number] = [-1, -1];
  try {
    efds[0] = check(efdOpen(0), 'eventfd');
    efds[1] = check(efdOpen(0), 'eventfd');
  } catch (e) {
    for (const fd of [...efds, segment.fd]) if (fd >= 0) fdClose(fd);
    throw e;
  }
  const probe = publishProbe(segment, 0);
  return {
    segment, efds, probe,
    abandon() {
      probe.release();
      for (const fd of [...efds, segment.fd]) fdClose(fd);
    },
  };
}

/** Side 0's channel, once the fds are handed over. */
export function openCreated(created: CreatedEnds, sock: number, peerPid: number, options: ChannelOptions, sockWatch?: SocketWatch): Channel {
  const ends: ChannelEnds = {
    side: 0, segment: created.segment, sock, selfEfd: created.efds[0], peerEfd: created.efds[1], peerPid,
    probeExposure: created.probe, ...(sockWatch ? { sockWatch } : {}),
  };
  return new Channel(ends, options);
}

/** The fds an end receives (from its listener, its parent, or a maker): the socket, the segment, both doorbells. */
export interface ReceivedFds {
  sock: number;
  memfd: number;
  efd0: number;
  efd1: number;
}

/**
 * Opens `side` of a channel from fds it received: checks the segment (magic,
 * layout version, sizes), publishes this side's probe and makes the channel.
 * Takes ownership of the segment and both doorbells: on failure they are
 * closed (and the segment unmapped, the probe released). The socket (and
 * `sockWatch`) stay the caller's to close on failure.
 */
export function openReceived(side: 0 | 1, fds: ReceivedFds, peerPid: number, options: ChannelOptions, sockWatch?: SocketWatch): Channel {
  const closeFds = (): void => { for (const fd of [fds.memfd, fds.efd0, fds.efd1]) fdClose(fd); };
  let segment: Segment;
  try {
    segment = attachSegment(fds.memfd);
  } catch (e) {
    closeFds();
    throw e;
  }
  const probe = publishProbe(segment, side);
  const ends: ChannelEnds = {
    side, segment, sock: fds.sock,
    selfEfd: side === 0 ? fds.efd0 : fds.efd1,
    peerEfd: side === 0 ? fds.efd1 : fds.efd0,
    peerPid, probeExposure: probe, ...(sockWatch ? { sockWatch } : {}),
  };
  try {
    return new Channel(ends, options);
  } catch (e) {
    // A channel that throws has closed the pollers it opened on these fds: all is ours again.
    probe.release();
    shmUnmap(segment.buffer);
    closeFds();
    throw e;
  }
}

/** Side 1 (connect, parentChannel): see openReceived. */
export function openAttached(fds: ReceivedFds, peerPid: number, options: ChannelOptions, sockWatch?: SocketWatch): Channel {
  return openReceived(1, fds, peerPid, options, sockWatch);
}
