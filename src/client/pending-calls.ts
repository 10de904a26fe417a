// The calls a connection waits on (D-Bus specification, "Message Types": a
// METHOD_RETURN or ERROR answers the call whose serial its REPLY_SERIAL names).
// Each is settled once: by its reply, its timeout, its AbortSignal, or the
// connection's end. Calls under the connection's default timeout share one
// timer (they expire in the order they were made, so it is armed for the
// oldest); a call with another timeout has a timer of its own. A call costs
// one object and the promise: no map entry, no closure. Lookup is by
// serial & mask in an array (serials are handed out in order, so the calls in
// flight rarely collide; a collision goes to a Map), and the calls are linked
// in the order they were made (the timeout sweep walks them oldest first).
import { MessageType, type Message } from '../wire/index.js';
import { callEndChannel, callStartChannel } from './diagnostics-channels.js';
import { AbortError, DBusError, ErrorNames, TimeoutError } from './errors.js';
import { ReplyPick, type CallOptions } from './connection-options.js';

/** One call waiting for its reply. */
export class PendingCall {
  /** The direct peer the call went to on a channel (undefined: through the bus). */
  via: string | undefined;
  /** performance.now() deadline under the default timeout (0: none, or a timer of its own). */
  deadline = 0;
  /** Its own timer, for a timeout other than the connection's default. */
  timer: NodeJS.Timeout | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  /** performance.now() at the start, when someone watches calls end (0: nobody did). */
  startMs = 0;
  /** The calls made before and after it that still wait. */
  prev: PendingCall | undefined = undefined;
  next: PendingCall | undefined = undefined;

  constructor(
    readonly serial: number,
    readonly message: Message,
    readonly pick: ReplyPick,
    readonly resolve: (value: unknown) => void,
    readonly reject: (error: Error) => void,
    readonly signal: AbortSignal | undefined,
    via: string | undefined,
  ) {
    this.via = via;
  }
}

/** `call destination path interface.member`, for errors. */
export function describeCall(m: { destination?: string; path?: string; interface?: string; member?: string }): string {
  return `call ${m.destination ?? '(no destination)'} ${m.path ?? ''} ${m.interface ? `${m.interface}.` : ''}${m.member ?? ''}`;
}

/** What new Promise() handed the last executor (one function for every call, not a closure per call). */
let takenResolve: (value: unknown) => void = () => {};
let takenReject: (error: Error) => void = () => {};
function takeResolvers(resolve: (value: unknown) => void, reject: (error: Error) => void): void {
  takenResolve = resolve;
  takenReject = reject;
}

const INITIAL_SLOTS = 256;
/** Past this many slots, collisions stay in the Map. */
const MAX_SLOTS = 1 << 20;

/** A connection's calls in flight. */
export class PendingCalls {
  /** How many calls wait. */
  size = 0;
  private slots: (PendingCall | undefined)[] = new Array<PendingCall | undefined>(INITIAL_SLOTS).fill(undefined);
  private mask = INITIAL_SLOTS - 1;
  /** Calls whose slot was taken when they were made. */
  private readonly collided = new Map<number, PendingCall>();
  private oldest: PendingCall | undefined = undefined;
  private newest: PendingCall | undefined = undefined;
  /** One timer for every call under the default timeout. */
  private sweepTimer: NodeJS.Timeout | undefined = undefined;
  /** Whether the sweep timer keeps the process alive (while calls wait). */
  private sweepRefed = false;
  /**
   * Whether calls waiting keep the process alive through the sweep timer: only while the
   * connection is unref'd (a referenced connection's socket keeps it alive anyway, and a timer
   * referenced and unreferenced at each call costs a call into Node's timers binding each time).
   */
  private holdsProcess = false;

  /** `owner` is the connection, as the diagnostics channels report it. */
  constructor(private readonly owner: object, private readonly timeoutMs: number) {}

  /** Starts waiting for the reply to `message` (sent with `serial`); the promise settles with `pick` of the reply. */
  add(serial: number, message: Message, pick: ReplyPick, options: CallOptions, via: string | undefined): Promise<unknown> {
    const promise = new Promise<unknown>(takeResolvers);
    const signal = options.signal;
    const p = new PendingCall(serial, message, pick, takenResolve, takenReject, signal, via);
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
      if (timeoutMs === this.timeoutMs) {
        p.deadline = performance.now() + timeoutMs;
        if (this.sweepTimer === undefined) this.armSweep(timeoutMs);
        else if (this.holdsProcess && !this.sweepRefed) {
          this.sweepTimer.ref();
          this.sweepRefed = true;
        }
      } else this.armTimer(p, timeoutMs);
    }
    if (signal !== undefined) this.watchAbort(p, signal);
    if (callStartChannel.hasSubscribers || callEndChannel.hasSubscribers) {
      p.startMs = performance.now();
      callStartChannel.publish({ connection: this.owner, message });
    }
    this.insert(p);
    return promise;
  }

  // Closures are made in functions of their own: a closure in add() would cost every call a context.
  private armTimer(p: PendingCall, timeoutMs: number): void {
    p.timer = setTimeout(() => this.settle(p, undefined, new TimeoutError(describeCall(p.message), timeoutMs)), timeoutMs);
  }

  private watchAbort(p: PendingCall, signal: AbortSignal): void {
    p.onAbort = () => this.settle(p, undefined, new AbortError(describeCall(p.message), { cause: signal.reason }));
    signal.addEventListener('abort', p.onAbort, { once: true });
  }

  /** The call waiting for the reply to `serial`, if any. */
  get(serial: number): PendingCall | undefined {
    const p = this.slots[serial & this.mask];
    if (p !== undefined && p.serial === serial) return p;
    return this.collided.size === 0 ? undefined : this.collided.get(serial);
  }

  /** Settles `p` (still waiting) with `reply`, or rejects it with `error`. */
  settle(p: PendingCall, reply: Message | undefined, error: Error | undefined): void {
    if (!this.remove(p)) return;
    if (p.timer !== undefined) clearTimeout(p.timer);
    // An idle connection's sweep timer must not keep the process alive.
    if (this.size === 0 && this.sweepRefed) {
      this.sweepTimer!.unref();
      this.sweepRefed = false;
    }
    if (p.onAbort !== undefined) p.signal!.removeEventListener('abort', p.onAbort);
    if (p.startMs !== 0 && callEndChannel.hasSubscribers) {
      callEndChannel.publish({ connection: this.owner, message: p.message, reply, error, durationMs: performance.now() - p.startMs });
    }
    if (error !== undefined) p.reject(error);
    else {
      const pick = p.pick;
      p.resolve(pick === ReplyPick.MESSAGE ? reply : pick === ReplyPick.FIRST ? reply!.body[0] : pick === ReplyPick.BODY ? reply!.body : undefined);
    }
  }

  /** Settles `p` with its reply: a METHOD_RETURN resolves it, an ERROR rejects it with DBusError. */
  answer(p: PendingCall, reply: Message): void {
    if (reply.type !== MessageType.ERROR) return this.settle(p, reply, undefined);
    const text = typeof reply.body[0] === 'string' ? (reply.body[0] as string) : undefined;
    this.settle(p, undefined, new DBusError(reply.errorName ?? ErrorNames.Failed, text, reply.body));
  }

  /** Rejects every call that `matches` (all without it), oldest first, with `error(call)`. */
  failAll(error: (p: PendingCall) => Error, matches?: (p: PendingCall) => boolean): void {
    // Taken first: settling runs diagnostics subscribers, which may settle other calls (settle() skips those).
    const chosen: PendingCall[] = [];
    for (let p = this.oldest; p !== undefined; p = p.next) if (matches === undefined || matches(p)) chosen.push(p);
    for (const p of chosen) this.settle(p, undefined, error(p));
  }

  /** The connection ended: no timer stays. */
  close(): void {
    if (this.sweepTimer !== undefined) clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    this.sweepRefed = false;
  }

  /** Times out the default-timeout calls whose deadline passed, then re-arms for the oldest left. */
  private readonly sweep = (): void => {
    this.sweepTimer = undefined;
    this.sweepRefed = false;
    const now = performance.now();
    // The expired calls are taken first: settling one runs diagnostics subscribers, which may settle others.
    const expired: PendingCall[] = [];
    let p = this.oldest;
    for (; p !== undefined; p = p.next) {
      if (p.deadline === 0) continue;
      if (p.deadline > now) break;
      expired.push(p);
    }
    for (const e of expired) this.settle(e, undefined, new TimeoutError(describeCall(e.message), this.timeoutMs));
    // The oldest call still under the default timeout sets the next sweep.
    for (p = this.oldest; p !== undefined && p.deadline === 0; p = p.next);
    if (p !== undefined) this.armSweep(Math.max(1, Math.ceil(p.deadline - now)));
  };

  private armSweep(ms: number): void {
    this.sweepTimer = setTimeout(this.sweep, ms);
    this.sweepRefed = this.holdsProcess;
    if (!this.holdsProcess) this.sweepTimer.unref();
  }

  /** The connection was unref'd (`hold`: waiting calls keep the process alive) or ref'd again. */
  holdProcess(hold: boolean): void {
    this.holdsProcess = hold;
    const want = hold && this.size > 0 && this.sweepTimer !== undefined;
    if (want === this.sweepRefed) return;
    if (want) this.sweepTimer!.ref();
    else this.sweepTimer?.unref();
    this.sweepRefed = want;
  }

  private insert(p: PendingCall): void {
    // Linked first: grow() places again the calls it finds in the list.
    p.prev = this.newest;
    if (this.newest !== undefined) this.newest.next = p;
    else this.oldest = p;
    this.newest = p;
    this.size++;
    const i = p.serial & this.mask;
    if (this.slots[i] === undefined) this.slots[i] = p;
    else {
      this.collided.set(p.serial, p);
      if (this.collided.size > (this.mask + 1) >> 2 && this.mask + 1 < MAX_SLOTS) this.grow();
    }
  }

  /** Takes `p` out; false when it no longer waits. */
  private remove(p: PendingCall): boolean {
    const i = p.serial & this.mask;
    if (this.slots[i] === p) this.slots[i] = undefined;
    else if (!this.collided.delete(p.serial)) return false;
    const { prev, next } = p;
    if (prev !== undefined) prev.next = next;
    else this.oldest = next;
    if (next !== undefined) next.prev = prev;
    else this.newest = prev;
    p.prev = p.next = undefined;
    this.size--;
    return true;
  }

  /** Twice the slots, every waiting call placed again. */
  private grow(): void {
    const n = (this.mask + 1) * 2;
    this.slots = new Array<PendingCall | undefined>(n).fill(undefined);
    this.mask = n - 1;
    this.collided.clear();
    for (let p = this.oldest; p !== undefined; p = p.next) {
      const i = p.serial & this.mask;
      if (this.slots[i] === undefined) this.slots[i] = p;
      else this.collided.set(p.serial, p);
    }
  }
}
