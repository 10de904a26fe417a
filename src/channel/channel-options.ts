// The options a channel end takes (listen, connect, fork, parentChannel), and
// the checked settings made from them once the ring size is known.
import { probe as cmaProbe, type ProbeResult, type RemoteRange } from '../cma/index.js';
import { MAX_ARENA_BYTES } from './arena.js';

const MiB = 1 << 20;
const DEFAULT_ARENA_BYTES = 8 * MiB;
/** 'auto' puts a payload in the arena when the arenas can hold it within this, else uses CMA (see docs/channel.md). */
const DEFAULT_ARENA_MAX_BYTES = 64 * MiB;

/**
 * The default longest polling window after a wake-up: 50 µs covers a peer's reply on these VMs
 * (a round trip several times under the C eventfd ping-pong's, where without it the default was
 * 1.5-2x it); an idle channel's window shrinks to 0, so it costs nothing while quiet. It was off
 * while chunked 64 MiB transfers stalled with it on: that was a lost wake-up (fixed in 79ac7d5);
 * docs/channel.md, "The wake-up path", gives the measurements and the stress run since.
 */
const DEFAULT_POLL_US = 50;

/** How large payloads travel (see ChannelOptions.largePayload). */
export type LargePayloadMode = 'auto' | 'arena' | 'cma' | 'memfd' | 'ring';
const LARGE_MODES: readonly string[] = ['auto', 'arena', 'cma', 'memfd', 'ring'];

/** Options shared by listen, connect, fork and parentChannel. */
export interface ChannelOptions {
  /** How non-byte values travel: 'json' (default, as child_process) or 'advanced' (v8 structured clone). */
  serialization?: 'json' | 'advanced';
  /**
   * How long, in microseconds, an end stays awake after work, polling the ring on each turn of the
   * event loop, so that a reply within it needs no doorbell (default 50, which covers a reply on a
   * VM; 0: sleep at once); also the longest window of the event loop's polling after a doorbell
   * wake-up, which adapts (it opens while messages keep coming and shuts when they do not). An idle
   * channel polls not at all. See docs/channel.md, "The wake-up path".
   */
  pollUs?: number;
  /** Microseconds to keep polling the ring after it runs dry, before sleeping on the doorbell (default 0); blocks the event loop meanwhile. */
  spinUs?: number;
  /** Never sleep: poll the ring continuously (one core at 100%), for the lowest latency. */
  busy?: boolean;
  /** Payloads above this many bytes go as large payloads, see largePayload (default 64 KiB, at most ring/4). */
  largeThresholdBytes?: number;
  /**
   * How large payloads travel: 'auto' (the arena when it can hold the payload
   * within arenaMaxBytes; above, in pieces through the arena; where no memfd
   * can be made, CMA when the peer's probe succeeded, else chunks through the
   * ring), or forced: 'arena', 'cma', 'memfd' (a new memfd per payload) or 'ring' (chunks).
   */
  largePayload?: LargePayloadMode;
  /** First payload arena of each direction, in bytes (default 8 MiB; made at the first arena payload). */
  arenaSizeBytes?: number;
  /**
   * All arenas of one direction together, at most (default 64 MiB). An arena is twice the
   * largest payload it was made for, so by default payloads up to about 28 MiB use it.
   */
  arenaMaxBytes?: number;
  /**
   * Deliver byte messages as views into the ring or the arena (or one reused buffer
   * for CMA and chunked ones), valid only until the 'message' listener returns: no copy, no allocation.
   */
  views?: boolean;
  /**
   * With `views`, only byte messages up to this size are views (default: all); larger ones
   * are handed out as with default options, in buffers the listener owns (from the receive
   * pool), which it may keep and decode in place.
   */
  viewsMaxBytes?: number;
  /** Where the one-line notices go (default console.warn). */
  log?: (line: string) => void;
  /** For tests: replaces the CMA probe of the peer. */
  probe?: (pid: number, range: RemoteRange) => ProbeResult;
  /** For tests: makes creating a payload memfd fail as the kernel does when it refuses one (ENOMEM). */
  refuseMemfd?: boolean;
}

/** ChannelOptions checked, with their defaults filled in. */
export interface ChannelSettings {
  json: boolean;
  pollUs: number;
  spinMs: number;
  busy: boolean;
  /** Payloads above this many bytes are large. */
  threshold: number;
  largeMode: LargePayloadMode;
  arenaFirstBytes: number;
  arenaMaxBytes: number;
  /** Payload bytes per chunk through the ring. */
  chunkBytes: number;
  views: boolean;
  /** Byte messages up to this size are handed out as views (-1: none, without `views`). */
  viewsMaxBytes: number;
  refuseMemfd: boolean;
  log: (line: string) => void;
  probe: (pid: number, range: RemoteRange) => ProbeResult;
}

/** Checks `options` (throwing TypeError/RangeError) for a channel whose rings hold `ringBytes` each. */
export function settingsFrom(options: ChannelOptions, ringBytes: number): ChannelSettings {
  const serialization = options.serialization ?? 'json';
  if (serialization !== 'json' && serialization !== 'advanced') throw new TypeError(`serialization must be 'json' or 'advanced', got '${String(serialization)}'`);
  const pollUs = options.pollUs ?? DEFAULT_POLL_US;
  if (!Number.isInteger(pollUs) || pollUs < 0 || pollUs > 1e6) throw new RangeError(`pollUs must be an integer between 0 and 1000000, got ${pollUs}`);
  const spinUs = options.spinUs ?? 0;
  if (!(spinUs >= 0 && spinUs <= 1e6)) throw new RangeError(`spinUs must be between 0 and 1000000, got ${spinUs}`);
  const threshold = options.largeThresholdBytes ?? 64 * 1024;
  if (!Number.isInteger(threshold) || threshold < 0) throw new RangeError(`largeThresholdBytes must be a non-negative integer, got ${threshold}`);
  const mode = options.largePayload ?? 'auto';
  if (!LARGE_MODES.includes(mode)) throw new TypeError(`largePayload must be one of ${LARGE_MODES.join(', ')}, got '${String(mode)}'`);
  const arenaMax = options.arenaMaxBytes ?? DEFAULT_ARENA_MAX_BYTES;
  if (!Number.isInteger(arenaMax) || arenaMax < 4096) throw new RangeError(`arenaMaxBytes must be an integer of at least 4096, got ${arenaMax}`);
  const arenaFirst = options.arenaSizeBytes ?? Math.min(DEFAULT_ARENA_BYTES, arenaMax);
  if (!Number.isInteger(arenaFirst) || arenaFirst < 4096 || arenaFirst > Math.min(arenaMax, MAX_ARENA_BYTES)) {
    throw new RangeError(`arenaSizeBytes must be an integer between 4096 and arenaMaxBytes (${Math.min(arenaMax, MAX_ARENA_BYTES)}), got ${arenaFirst}`);
  }
  return {
    json: serialization === 'json',
    pollUs,
    spinMs: spinUs / 1000,
    busy: options.busy === true,
    threshold: Math.min(threshold, ringBytes / 4),
    largeMode: mode,
    arenaFirstBytes: arenaFirst,
    arenaMaxBytes: arenaMax,
    chunkBytes: Math.max(64, ringBytes / 4 - 24),
    views: options.views === true,
    viewsMaxBytes: options.views === true ? options.viewsMaxBytes ?? Infinity : -1,
    refuseMemfd: options.refuseMemfd === true,
    log: options.log ?? ((line) => console.warn(line)),
    probe: options.probe ?? cmaProbe,
  };
}
