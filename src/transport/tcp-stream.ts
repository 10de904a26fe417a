// A MessageStream over a node:net socket (tcp; no unix fds). Writes queued in
// one tick are corked and leave together; queued bytes include what the
// socket itself still buffers.
import type { Socket } from 'node:net';
import { ProtocolError } from '../errors.js';
import { FrameReader } from './frame-reader.js';
import { FramedStream } from './framed-stream.js';
import type { MessageStream } from './message-stream.js';

/** Wraps a connected node:net socket; the stream owns and destroys it. */
export class TcpStream extends FramedStream implements MessageStream {
  readonly kind = 'tcp' as const;
  readonly fdCapable = false;

  private readonly socket: Socket;
  private raw = true;
  private paused = false;
  private corked = false;

  constructor(socket: Socket) {
    super(new FrameReader());
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.data(chunk));
    socket.on('drain', () => this.onDrain?.());
    socket.on('error', (e) => this.close(e));
    socket.on('close', () => this.close());
    socket.on('end', () => this.close());
  }

  get queuedBytes(): number {
    return this.socket.writableLength;
  }
  get queuedFds(): number {
    return 0;
  }

  startMessages(initial: Uint8Array): void {
    this.raw = false;
    if (initial.length > 0) queueMicrotask(() => this.data(initial));
  }

  ref(): void {
    this.socket.ref();
  }

  unref(): void {
    this.socket.unref();
  }

  send(bytes: Uint8Array, fds?: readonly number[], fdsDone?: boolean | (() => void), written?: () => void): void {
    if (fds && fds.length > 0) throw new Error('TcpStream.send: tcp cannot carry unix fds');
    if (typeof fdsDone === 'function') fdsDone();
    if (this.isClosed) {
      written?.();
      return;
    }
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      queueMicrotask(() => {
        this.corked = false;
        if (!this.isClosed) this.socket.uncork();
      });
    }
    // node:net keeps `bytes` itself (no copy) until the write's callback: only then may the
    // caller reuse them. Node calls it after the kernel took them, or once destroy() dropped them.
    this.socket.write(bytes, written);
  }

  takeFds(count: number): number[] {
    if (count > 0) throw new ProtocolError('MISSING_FDS', 'unix fds cannot travel over tcp');
    return [];
  }

  pause(): void {
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    this.paused = false;
    this.socket.resume();
    queueMicrotask(() => this.data(new Uint8Array(0)));
  }

  close(error?: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.socket.destroy();
    this.onClose?.(error);
  }

  private data(chunk: Uint8Array): void {
    if (this.isClosed) return;
    if (this.raw) {
      this.onRaw?.(chunk);
      return;
    }
    try {
      let off = 0;
      for (;;) {
        while (!this.paused && !this.isClosed) {
          const frame = this.reader.next();
          if (frame === null) break;
          this.onMessage?.(frame);
        }
        if (off >= chunk.length || this.isClosed) return;
        const region = this.reader.region();
        const n = Math.min(region.length, chunk.length - off);
        region.set(chunk.subarray(off, off + n));
        this.reader.commit(n);
        off += n;
        if (this.paused && off < chunk.length) {
          // Keep the rest for resume(): park it in front of the next chunk.
          const rest = chunk.slice(off);
          this.socket.unshift(Buffer.from(rest.buffer, rest.byteOffset, rest.length));
          return;
        }
      }
    } catch (e) {
      if (e instanceof ProtocolError) this.close(e);
      else throw e;
    }
  }
}
