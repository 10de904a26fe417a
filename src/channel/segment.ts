// The shared segment of a channel: a memfd holding a header, the control
// words of two single-producer/single-consumer rings, and their data. The
// header carries a magic number and a layout version, checked at attach, so
// a foreign or corrupt file is refused with a clear error. Side 0 created
// the segment (listener or parent), side 1 attached to it.
//
//   0      header: magic 'FBCH', layoutVersion, ringBytes, dataOffset,
//          per side: pid and the address of a small exposed probe buffer,
//          grantFlags (48: written only by the maker of a granted channel),
//          per side of a granted channel: rulesVersion (56 + 4 * side, written by that side)
//   128    ring 0 (side 0 -> side 1): tail | head | consumerSleeping | producerWaiting ackWanted | acked
//   768    ring 1 (side 1 -> side 0): tail | head | consumerSleeping | producerWaiting ackWanted | acked
//          (each word alone on a 128-byte line: no false sharing, even with
//          adjacent-line prefetch; ackWanted, written by the producer only,
//          shares the producer's line)
//   4096   ring 0 data [ringBytes]
//   4096+R ring 1 data [ringBytes]
import { ProtocolError } from '../errors.js';
import { F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK, check, fdClose, fdSize, memfdOpen, memfdSeal, memfdTruncate, shmMap, shmUnmap } from '../native/native.js';

/** 'FBCH' read as a little-endian u32. */
export const SEGMENT_MAGIC = 0x48434246;
/**
 * Bumped whenever the segment's offsets or what travels in it change (frame
 * kinds, socket messages): 2 added handles (KIND_HANDLES frames, SOCK_HANDLES),
 * 3 the grant flags and rules version words (GRANT_FLAGS, RULES_VERSION: an end
 * that does not use them must not take a granted channel).
 */
export const LAYOUT_VERSION = 3;
export const LINE_BYTES = 128;
export const DATA_OFFSET = 4096;
export const MIN_RING_BYTES = 4096;
export const MAX_RING_BYTES = 1 << 30;

// Header words (byte offsets).
const MAGIC = 0;
const VERSION = 4;
const RING_BYTES = 8;
const DATA_AT = 12;
const PID = 16; // + 4 * side
const PROBE_ADDRESS = 32; // + 8 * side (u64)
/**
 * Flags the maker of a granted channel (the bus) sets for both ends to read
 * (granted-ends.ts); 0 in a channel its two ends made between them. Bit 0:
 * revoked (the ends must stop sending new messages on the channel).
 */
export const GRANT_FLAGS = 48;
/**
 * Per side of a granted channel (+ 4 * side): a counter that side bumps each
 * time its signal match rules change, before it sends them on the channel,
 * so that the other side knows at once when the copy it holds is stale.
 */
export const RULES_VERSION = 56;

/** Byte offsets of one ring's control words. */
export interface RingControl {
  tail: number;
  head: number;
  consumerSleeping: number;
  producerWaiting: number;
  /** The last large-payload token the consumer has pulled (tokens are acknowledged in order). */
  acked: number;
  /** The token whose acknowledgement a waiting producer wants to be rung for (earlier ones do not ring). */
  ackWanted: number;
  data: number;
}

/** A mapped segment, shared by both sides. */
export interface Segment {
  buffer: ArrayBuffer;
  fd: number;
  ringBytes: number;
  sizeBytes: number;
  /** rings[0]: side 0 -> side 1; rings[1]: side 1 -> side 0. */
  rings: [RingControl, RingControl];
}

/** A segment that cannot be used: foreign file, other layout version, bad sizes. */
export class SegmentError extends ProtocolError {
  constructor(code: 'BAD_MAGIC' | 'BAD_VERSION' | 'BAD_LAYOUT', message: string) {
    super(code, message);
    this.name = 'SegmentError';
  }
}

/** The size of a segment holding two rings of `ringBytes`. */
export function segmentSizeBytes(ringBytes: number): number {
  return DATA_OFFSET + 2 * ringBytes;
}

export function ringControl(index: 0 | 1, ringBytes: number): RingControl {
  const base = LINE_BYTES + index * 5 * LINE_BYTES;
  return {
    tail: base,
    head: base + LINE_BYTES,
    consumerSleeping: base + 2 * LINE_BYTES,
    producerWaiting: base + 3 * LINE_BYTES,
    acked: base + 4 * LINE_BYTES,
    ackWanted: base + 3 * LINE_BYTES + 8,
    data: DATA_OFFSET + index * ringBytes,
  };
}

function checkRingBytes(ringBytes: number): void {
  if (!Number.isInteger(ringBytes) || ringBytes < MIN_RING_BYTES || ringBytes > MAX_RING_BYTES || (ringBytes & (ringBytes - 1)) !== 0) {
    throw new RangeError(`ringSizeBytes must be a power of two between ${MIN_RING_BYTES} and ${MAX_RING_BYTES}, got ${ringBytes}`);
  }
}

function view(buffer: ArrayBuffer, fd: number, ringBytes: number): Segment {
  return { buffer, fd, ringBytes, sizeBytes: segmentSizeBytes(ringBytes), rings: [ringControl(0, ringBytes), ringControl(1, ringBytes)] };
}

/**
 * Creates a segment in a new memfd (close-on-exec, never a named file) and maps it.
 * `sealed`: the file is sealed against shrinking and growing, so that no holder
 * of the fd can make another's reads of the mapping fault (SIGBUS): for segments
 * made for others (the bus's direct-path grants, which the bus itself reads).
 */
export function createSegment(ringBytes: number, sealed = false): Segment {
  checkRingBytes(ringBytes);
  const fd = check(memfdOpen('fastbus-channel', sealed), 'memfd_create');
  const size = segmentSizeBytes(ringBytes);
  let buffer: ArrayBuffer;
  try {
    check(memfdTruncate(fd, size), 'ftruncate');
    if (sealed) check(memfdSeal(fd, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 'fcntl', 'F_ADD_SEALS');
    buffer = shmMap(fd, size, true);
  } catch (e) {
    fdClose(fd);
    throw e;
  }
  const u32 = new Uint32Array(buffer, 0, DATA_OFFSET / 4);
  u32[VERSION / 4] = LAYOUT_VERSION;
  u32[RING_BYTES / 4] = ringBytes;
  u32[DATA_AT / 4] = DATA_OFFSET;
  // SYNC: the magic is written last; it pairs with the Atomics.load in attachSegment.
  Atomics.store(u32, MAGIC / 4, SEGMENT_MAGIC);
  return view(buffer, fd, ringBytes);
}

/** Maps a segment received from a peer, checking magic, version and sizes first. */
export function attachSegment(fd: number): Segment {
  const fileBytes = check(fdSize(fd), 'fstat');
  if (fileBytes < DATA_OFFSET) {
    throw new SegmentError('BAD_LAYOUT', `not a fastbus channel segment: the file holds ${fileBytes} bytes, fewer than a header (${DATA_OFFSET})`);
  }
  const probe = shmMap(fd, DATA_OFFSET, false);
  const u32 = new Uint32Array(probe);
  // SYNC: pairs with the Atomics.store of the magic in createSegment.
  const magic = Atomics.load(u32, MAGIC / 4);
  const version = u32[VERSION / 4];
  const ringBytes = u32[RING_BYTES / 4];
  const dataAt = u32[DATA_AT / 4];
  shmUnmap(probe);
  if (magic !== SEGMENT_MAGIC) {
    throw new SegmentError('BAD_MAGIC', `not a fastbus channel segment: magic 0x${magic.toString(16)}, expected 0x${SEGMENT_MAGIC.toString(16)}`);
  }
  if (version !== LAYOUT_VERSION) {
    throw new SegmentError('BAD_VERSION', `channel segment layout version ${version} is not supported (this fastbus speaks ${LAYOUT_VERSION}): upgrade both sides to the same fastbus`);
  }
  try {
    checkRingBytes(ringBytes);
  } catch {
    throw new SegmentError('BAD_LAYOUT', `corrupt channel segment: ring size ${ringBytes} is not a power of two in range`);
  }
  if (dataAt !== DATA_OFFSET || fileBytes !== segmentSizeBytes(ringBytes)) {
    throw new SegmentError('BAD_LAYOUT', `corrupt channel segment: ${fileBytes} bytes with data at ${dataAt}, expected ${segmentSizeBytes(ringBytes)} with data at ${DATA_OFFSET}`);
  }
  const buffer = shmMap(fd, fileBytes, true);
  return view(buffer, fd, ringBytes);
}

/** Header fields each side publishes for the other (pid, probe buffer address). */
export class SegmentHeader {
  private readonly i32: Int32Array;
  private readonly u64: BigUint64Array;
  constructor(buffer: ArrayBuffer) {
    this.i32 = new Int32Array(buffer, 0, LINE_BYTES / 4);
    this.u64 = new BigUint64Array(buffer, 0, LINE_BYTES / 8);
  }

  publish(side: 0 | 1, pid: number, probeAddress: bigint): void {
    this.u64[PROBE_ADDRESS / 8 + side] = probeAddress;
    // SYNC: pid is stored after the probe address; pairs with the load in pid().
    Atomics.store(this.i32, PID / 4 + side, pid);
  }

  pid(side: 0 | 1): number {
    // SYNC: pairs with the store in publish().
    return Atomics.load(this.i32, PID / 4 + side);
  }

  probeAddress(side: 0 | 1): bigint {
    return this.u64[PROBE_ADDRESS / 8 + side];
  }
}
