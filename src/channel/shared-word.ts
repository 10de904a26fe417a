// One 32-bit word that a maker process writes and one other process reads,
// in a page of its own passed as an fd (the bus's word telling a sender
// whether it needs its broadcasts, docs/direct.md). The maker seals the page
// against shrinking and growing before passing it, so the reader cannot make
// the maker's writes fault; the reader maps it read-only and checks its size.
import { F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK, check, fdClose, fdSize, memfdOpen, memfdSeal, memfdTruncate, shmMap, shmUnmap } from '../native/native.js';

const PAGE_BYTES = 4096;

/** A word in a shared page: the maker stores, the reader loads (0 once closed). */
export class SharedWord {
  private buffer: ArrayBuffer | undefined;
  private readonly i32: Int32Array;

  private constructor(buffer: ArrayBuffer) {
    this.buffer = buffer;
    this.i32 = new Int32Array(buffer, 0, 1);
  }

  /** Makes a sealed page holding 0; returns the maker's word and the fd to pass (the caller closes it). */
  static make(): { word: SharedWord; fd: number } {
    const fd = check(memfdOpen('fastbus-word', true), 'memfd_create');
    try {
      check(memfdTruncate(fd, PAGE_BYTES), 'ftruncate');
      check(memfdSeal(fd, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 'fcntl', 'F_ADD_SEALS');
      return { word: new SharedWord(shmMap(fd, PAGE_BYTES, true)), fd };
    } catch (e) {
      fdClose(fd);
      throw e;
    }
  }

  /** Maps a page received as `fd`, read-only (the caller still owns the fd). */
  static open(fd: number): SharedWord {
    const size = check(fdSize(fd), 'fstat');
    if (size < PAGE_BYTES) throw new RangeError(`a shared word page holds ${PAGE_BYTES} bytes, this file ${size}`);
    return new SharedWord(shmMap(fd, PAGE_BYTES, false));
  }

  load(): number {
    // SYNC: pairs with the Atomics.store in store() in the maker's process.
    return this.buffer === undefined ? 0 : Atomics.load(this.i32, 0);
  }

  store(value: number): void {
    // SYNC: pairs with the Atomics.load in load() in the reader's process.
    if (this.buffer !== undefined) Atomics.store(this.i32, 0, value);
  }

  close(): void {
    if (this.buffer === undefined) return;
    shmUnmap(this.buffer);
    this.buffer = undefined;
  }
}
