// How a channel end waits for work: after work it stays awake for pollUs,
// polling the ring on each event-loop turn without saying it sleeps (so the
// peer rings nothing), then sleeps on its eventfd doorbell (polled by libuv),
// which the peer rings only when this side said it sleeps; after a wake-up the
// loop keeps polling (an adaptive window of the doorbell's own, up to pollUs,
// see src/native/loop-spin.c); with spinUs it first polls the ring that
// long; busy mode never sleeps: it polls in 1 ms slices, one per event-loop
// turn, driven from C (src/native/loop-busy.c), which runs the promise jobs
// and nextTicks after each message delivered, inside the slice (so an awaited
// reply's continuation sends at once). Each wake-up drains the inbound ring, then writes what waits to go
// out; the doorbell is reset after that (off the path of a reply), before sleeping.
import { performance } from 'node:perf_hooks';
import {
  POLL_READABLE, busyClose, busyOpen, busyRef, efdDrain, loopYield, pollClose, pollOpen, pollRef, type BusyHandle, type PollHandle,
} from '../native/native.js';
import type { ChannelCore } from './channel-core.js';
import type { Inbound } from './inbound.js';
import { publishAll, type Outbound } from './outbound.js';

const BUSY_SLICE_US = 1000;
/** Ring polls per call from C in busy mode (a call returns early after a delivery). */
const BUSY_POLLS = 64;

/** What the loop asks of the channel. */
export interface LoopHooks {
  /** The socket hung up and everything is drained: close. */
  peerGone(): void;
  /** A fault while running: close with it (or rethrow a bug). */
  fail(e: unknown): void;
}

export class WaitLoop {
  /** Runs the loop now (bound: usable as a callback). */
  readonly run = (): void => this.runOnce();
  private readonly spinMs: number;
  private readonly busy: boolean;
  private doorbell: PollHandle | null = null;
  /** The doorbell fired and its eventfd is not reset yet. */
  private rung = false;
  private running = false;
  private busyPoller: BusyHandle | null = null;
  private refed = true;
  /** How long the end stays awake after work (pollUs, in ms; 0: it sleeps at once). */
  private readonly awakeMs: number;
  /** While awake: when it goes to sleep, and the turn's poll of the ring. */
  private awakeUntil = 0;
  private awakePoller: NodeJS.Immediate | null = null;

  constructor(private readonly core: ChannelCore, private readonly out: Outbound, private readonly inb: Inbound, private readonly hooks: LoopHooks) {
    this.spinMs = core.settings.spinMs;
    this.busy = core.settings.busy;
    this.awakeMs = core.settings.pollUs / 1000;
  }

  /** Inside a drain or flush now (a hang-up seen meanwhile leaves the draining to it). */
  get isRunning(): boolean {
    return this.running;
  }

  /** Arms the doorbell (not in busy mode) and runs once after the current stack. */
  start(): void {
    if (!this.busy) {
      this.doorbell = pollOpen(this.core.selfEfd, POLL_READABLE, () => {
        this.rung = true;
        this.runOnce();
        // Not going to sleep (paused, nobody listening, closed): still reset it, or libuv calls again at once.
        this.resetDoorbell();
      }, this.core.settings.pollUs);
    }
    setImmediate(() => {
      if (!this.busy) return this.runOnce();
      if (this.core.isClosed()) return;
      this.busyPoller = busyOpen(this.busyPoll, BUSY_SLICE_US);
      if (!this.refed) busyRef(this.busyPoller, false);
    });
  }

  /** Runs after the current stack (a new listener, resume): not in busy mode, which runs anyway. */
  runSoon(): void {
    if (!this.busy && !this.core.isClosed()) setImmediate(this.run);
  }

  /**
   * Drains the inbound ring and flushes outbound work until both are idle, then stays awake for
   * up to pollUs (see awakePoll), or with `sleepNow` (the time is up) sleeps.
   */
  private runOnce(sleepNow = false): void {
    const { core, out, inb } = this;
    if (core.isClosed() || this.running) return;
    this.running = true;
    try {
      for (;;) {
        inb.drain();
        if (core.isClosed()) return;
        publishAll(); // replies sent by listeners ring their peers now, not after this loop
        if (inb.turnWanted) {
          // The receive pool is dry: let the loop turn (V8 gives lent buffers back then), then go on.
          inb.turnWanted = false;
          this.resetDoorbell();
          out.flush();
          setImmediate(this.run);
          return;
        }
        // Reset the doorbell before flush() arms producerWaiting (and waitForAck its ack wait): a
        // ring for room or an acknowledgement that comes after this is then never drained unseen.
        this.resetDoorbell();
        out.flush();
        if (core.isClosed()) return;
        if (out.inflight.size > 0 && core.writer.waitForAck(out.ackTarget())) continue;
        if (core.hungUp && !core.paused) return this.hooks.peerGone();
        // Paused, or nobody listening: stay awake-but-idle (no doorbell); resume() or a new listener restarts us.
        if (core.paused || !core.hasListener()) return;
        if (this.spinMs > 0 && this.spin()) continue;
        if (this.awakeMs > 0 && !sleepNow) {
          // Awake: the consumer has not said it sleeps, so the peer rings no doorbell; the ring is polled each turn.
          this.awakeUntil = performance.now() + this.awakeMs;
          // Referenced even when the channel is not: Node polls without sleeping only for referenced
          // immediates, and an end that sleeps in epoll while awake would wait for a ring that never comes.
          // So an unreferenced channel keeps the process alive up to pollUs after its last work.
          this.awakePoller ??= setImmediate(this.awakePoll);
          return;
        }
        sleepNow = false;
        // The doorbell was reset above, before flush(); a ring since then stays counted and wakes
        // the poller again (sleep() also re-checks the ring after saying it sleeps).
        if (!core.reader.sleep()) return;
      }
    } catch (e) {
      this.hooks.fail(e);
    } finally {
      this.running = false;
    }
  }

  /**
   * One turn of the event loop's while awake: runs the loop if frames came (the peer rang no
   * doorbell: this end never said it sleeps), else polls again next turn until the time is up, then
   * goes to sleep (sleep() sets the flag and looks at the ring once more, so nothing is missed).
   */
  private readonly awakePoll = (): void => {
    this.awakePoller = null;
    if (this.core.isClosed()) return;
    if (this.core.reader.refresh()) return this.runOnce();
    if (performance.now() < this.awakeUntil) {
      // The peer may wait for this CPU (it is not pinned elsewhere): let it run first.
      loopYield();
      this.awakePoller = setImmediate(this.awakePoll);
      return;
    }
    this.runOnce(true);
  };

  /** Reads the doorbell's counter back to zero if it fired (level-triggered: else libuv calls again). */
  private resetDoorbell(): void {
    if (!this.rung) return;
    this.rung = false;
    efdDrain(this.core.selfEfd);
  }

  private spin(): boolean {
    publishAll();
    const reader = this.core.reader;
    const end = performance.now() + this.spinMs;
    do {
      for (let i = 0; i < 64; i++) if (reader.refresh()) return true;
    } while (performance.now() < end);
    return false;
  }

  /**
   * Busy mode, called by C again and again during a slice: polls the ring up to BUSY_POLLS
   * times, returning as soon as it delivered a message, so that what its listener left to
   * promises runs (C's callback scope ends) before the next poll. False ends the slice: the loop
   * turns (closed, the peer gone, or the receive pool asked for a turn).
   */
  private readonly busyPoll = (): boolean => {
    const { core, out, inb } = this;
    if (core.isClosed()) return false;
    this.running = true;
    try {
      // The receive pool was dry at the last payload: the loop has turned since (V8 gives lent buffers back).
      inb.turnWanted = false;
      const stats = core.stats;
      const received = stats.messagesReceived;
      for (let i = 0; i < BUSY_POLLS; i++) {
        if (!core.paused) inb.drain(true);
        out.flush();
        publishAll();
        if (core.isClosed()) return false;
        if (stats.messagesReceived !== received) break;
      }
      if (core.hungUp && !core.paused) {
        this.hooks.peerGone();
        return false;
      }
      return !inb.turnWanted;
    } catch (e) {
      this.hooks.fail(e);
      return false;
    } finally {
      this.running = false;
    }
  };

  /** Whether the doorbell (or the busy poller) keeps the process alive. */
  ref(refed: boolean): void {
    this.refed = refed;
    if (this.doorbell) pollRef(this.doorbell, refed);
    if (this.busyPoller) busyRef(this.busyPoller, refed);
  }

  close(): void {
    if (this.doorbell) pollClose(this.doorbell);
    this.doorbell = null;
    if (this.busyPoller) busyClose(this.busyPoller);
    this.busyPoller = null;
    if (this.awakePoller) clearImmediate(this.awakePoller);
    this.awakePoller = null;
  }
}
