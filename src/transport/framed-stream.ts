// The part every MessageStream shares: the owner's callbacks and the
// FrameReader that splits received bytes into messages, whose settings the
// owner reads and changes through the stream.
import { FrameReader } from './frame-reader.js';
import type { ReadGroup } from './read-group.js';

/** Base of the unix and tcp streams: handlers, closed state and the frame reader's settings. */
export abstract class FramedStream {
  onRaw?: (bytes: Uint8Array) => void;
  onMessage?: (frame: Uint8Array) => void;
  onDrain?: () => void;
  onClose?: (error: Error | undefined) => void;

  /** The group whose budget per loop turn this stream reads within (unix streams; tcp streams read as node:net does). */
  readGroup: ReadGroup | undefined;

  protected readonly reader: FrameReader;
  protected isClosed = false;

  protected constructor(reader: FrameReader) {
    this.reader = reader;
  }

  get ownedFrameBytes(): number {
    return this.reader.ownedFrameBytes;
  }
  get maxMessageBytes(): number {
    return this.reader.maxMessageBytes;
  }
  set maxMessageBytes(n: number) {
    this.reader.maxMessageBytes = n;
  }
  get borrowFrames(): boolean {
    return this.reader.borrow;
  }
  set borrowFrames(on: boolean) {
    this.reader.borrow = on;
  }
  get closed(): boolean {
    return this.isClosed;
  }
}
