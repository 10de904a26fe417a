// The channel's unix socket, kept open beside the rings: the handshake (each
// side probes the other with a real 64-byte process_vm_readv of the buffer it
// published and sends its verdict), fds passed for large payloads and with
// messages, a `bye`
// at close, and the hang-up when the peer dies.
import { ProtocolError } from '../errors.js';
import { EAGAIN, check, fdClose, sockRecv, sockSend } from '../native/native.js';
import type { ChannelCore } from './channel-core.js';

export class ControlSocket {
  /** The peer said bye before the socket ended (a close, not a death). */
  sawBye = false;
  /** Called once the peer's CMA verdict is known (core.peerCanReadMe is set). */
  onReady: () => void = () => {};
  private readonly buf = Buffer.alloc(4096);
  /** Room for the most fds one message can carry (SCM_MAX_FD). */
  private readonly recvState = new Int32Array(2 + 253);
  private readonly passedHandlers = new Map<number, (key: number, fd: number) => void>();
  private readonly passedManyHandlers = new Map<number, (key: number, fds: Int32Array) => void>();

  constructor(private readonly core: ChannelCore) {}

  /** Routes binary messages [tag u32][key u32] + 1 fd to `handler`, which then owns the fd. */
  onPassed(tag: number, handler: (key: number, fd: number) => void): void {
    this.passedHandlers.set(tag, handler);
  }

  /** Routes binary messages [tag u32][key u32] + any number of fds to `handler`, which then owns the fds. */
  onPassedMany(tag: number, handler: (key: number, fds: Int32Array) => void): void {
    this.passedManyHandlers.set(tag, handler);
  }

  /** What the peer passed under `key` (an fd, an arena), reading the socket first if it is not there yet. */
  passed<T>(passed: Map<number, T>, key: number): T | undefined {
    const found = passed.get(key);
    if (found !== undefined) return found;
    this.pump();
    return passed.get(key);
  }

  /** Side 1 starts the handshake: its verdict on the peer. */
  sendAttached(): void {
    this.send({ t: 'attached', ...this.probePeer() });
  }

  sendBye(): void {
    this.send({ t: 'bye' });
  }

  private probePeer(): { verdict: 'yes' | 'no'; reason: string } {
    const core = this.core;
    const peer = (1 - core.side) as 0 | 1;
    const result = core.settings.probe(core.peerPid, { address: core.header.probeAddress(peer), length: 64 });
    return result.ok ? { verdict: 'yes', reason: '' } : { verdict: 'no', reason: `${result.code}: ${result.reason}` };
  }

  private send(message: object): void {
    const r = sockSend(this.core.sock, [Buffer.from(JSON.stringify(message))], null);
    if (r < 0 && !this.core.isClosed()) check(r, 'sendmsg', 'channel socket');
  }

  /** Reads every waiting socket message; true at end of stream. */
  pump(): boolean {
    const core = this.core;
    let errors = 0;
    let ended = false;
    for (;;) {
      const n = sockRecv(core.sock, this.buf, this.recvState);
      if (n === -EAGAIN) return ended;
      if (n < 0) {
        // A pending error (ECONNRESET) is reported once, before queued messages.
        ended = true;
        if (++errors > 1) return true;
        continue;
      }
      if (n === 0) return true;
      const fds = this.recvState.slice(2, 2 + this.recvState[0]);
      const many = n === 8 ? this.passedManyHandlers.get(this.buf.readUInt32LE(0)) : undefined;
      if (many) {
        many(this.buf.readUInt32LE(4), fds);
        continue;
      }
      if (n === 8 && fds.length === 1) {
        const handler = this.passedHandlers.get(this.buf.readUInt32LE(0));
        if (handler) {
          handler(this.buf.readUInt32LE(4), fds[0]);
          continue;
        }
      }
      for (const fd of fds) fdClose(fd);
      let msg: { t?: unknown; verdict?: unknown; reason?: unknown };
      try {
        msg = JSON.parse(this.buf.toString('utf8', 0, n)) as typeof msg;
      } catch {
        throw new ProtocolError('BAD_HANDSHAKE', 'peer sent an unreadable channel control message');
      }
      if (msg.t === 'bye') {
        this.sawBye = true;
      } else if ((msg.t === 'attached' && core.side === 0) || (msg.t === 'probed' && core.side === 1)) {
        core.peerCanReadMe = msg.verdict === 'yes' ? 'yes' : 'no';
        core.peerRefusal = typeof msg.reason === 'string' ? msg.reason : '';
        if (core.side === 0) this.send({ t: 'probed', ...this.probePeer() });
        this.onReady();
      } else {
        throw new ProtocolError('BAD_HANDSHAKE', `unexpected channel control message '${String(msg.t)}'`);
      }
    }
  }
}
