// The server side of D-Bus authentication (specification, "Authentication
// Protocol"): a line-based state machine fed raw bytes, answering with bytes.
// It takes the leading NUL byte, tolerates the whole exchange (and the first
// message) in one read, answers ERROR to unknown commands and keeps going, and
// hands back whatever follows `BEGIN\r\n`. No I/O here: the caller moves bytes.
import { createRequire } from 'node:module';
import { ProtocolError } from '../errors.js';
import { randomBytes } from '../util/random-bytes.js';

/** SHA-1 in hex, from node:crypto loaded at the first DBUS_COOKIE_SHA1 exchange: loading it initialises OpenSSL (the bus's start-up). */
function sha1Hex(text: string): string {
  const crypto = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
  return crypto.createHash('sha1').update(text).digest('hex');
}

/** What the server accepts. */
export interface SaslServerOptions {
  /** 32 hex digits, the server's guid sent with OK. */
  guid: string;
  /** The peer's uid from SO_PEERCRED, or undefined where there is none (tcp). */
  peerUid: number | undefined;
  /** Whether an authenticated uid may connect (default: the bus owner only). */
  allowUid(uid: number): boolean;
  /** Accept ANONYMOUS (`<allow_anonymous/>`). */
  allowAnonymous: boolean;
  /** The socket can carry unix fds (answer AGREE_UNIX_FD). */
  unixFdCapable: boolean;
  /** Mechanisms offered, in order; default EXTERNAL (when peerUid is known), DBUS_COOKIE_SHA1, ANONYMOUS. */
  mechanisms?: string[];
  /** For DBUS_COOKIE_SHA1: reads or creates a cookie, returning its context, id and secret. */
  cookie?: () => { context: string; id: string; secret: string };
  /** For DBUS_COOKIE_SHA1: the uid of a user name a client gives instead of a uid. */
  uidOfUser?: (name: string) => number | undefined;
}

/** The outcome of a finished handshake. */
export interface SaslResult {
  mechanism: string;
  /** The authenticated uid; undefined for ANONYMOUS. */
  uid: number | undefined;
  unixFd: boolean;
  /** Bytes after BEGIN\r\n: the start of the message stream. */
  rest: Uint8Array;
}

const MAX_LINE_BYTES = 16384;
const MAX_COMMANDS = 64;

type State = 'nul' | 'auth' | 'data' | 'begin' | 'done';

/**
 * Feeds bytes in with `receive`; it returns bytes to send back and, once BEGIN
 * arrives, the result. Throws ProtocolError when the peer must be dropped
 * (no leading NUL, an over-long line, too many commands).
 */
export class SaslServer {
  private state: State = 'nul';
  /** Received bytes not yet taken as lines: `buffer`, then `pieces` not joined yet (they hold no line end). */
  private buffer: Buffer = Buffer.alloc(0);
  private pieces: Buffer[] = [];
  private piecesBytes = 0;
  /** Whether the last byte received was '\r' (a line end may straddle two reads). */
  private endsInCr = false;
  private commands = 0;
  private mechanism = '';
  private uid: number | undefined;
  private unixFd = false;
  private cookieChallenge = '';
  private cookieSecret = '';
  private readonly options: SaslServerOptions;

  constructor(options: SaslServerOptions) {
    this.options = options;
  }

  /** The mechanisms this server offers. */
  get mechanisms(): string[] {
    if (this.options.mechanisms) return this.options.mechanisms;
    const m: string[] = [];
    if (this.options.peerUid !== undefined) m.push('EXTERNAL');
    if (this.options.cookie) m.push('DBUS_COOKIE_SHA1');
    if (this.options.allowAnonymous) m.push('ANONYMOUS');
    return m;
  }

  /** Takes received bytes; returns the reply bytes and, when done, the result. */
  receive(bytes: Uint8Array): { reply: string; result?: SaslResult } {
    assertNotDone(this.state);
    if (bytes.length === 0) return { reply: '' };
    // Bytes without a line end are kept as they come and joined only once a line
    // is complete: joining and searching everything on each read made a line sent
    // in small pieces cost quadratic time. The first read goes the long way (its NUL).
    const lineEnd = hasLineEnd(bytes, this.endsInCr);
    this.endsInCr = bytes[bytes.length - 1] === 0x0d;
    if (!lineEnd && this.state !== 'nul') {
      this.pieces.push(Buffer.from(bytes));
      this.piecesBytes += bytes.length;
      if (this.buffer.length + this.piecesBytes > MAX_LINE_BYTES) throw new ProtocolError('AUTH_LINE_TOO_LONG', 'authentication line too long');
      return { reply: '' };
    }
    const parts: Uint8Array[] = [this.buffer, ...this.pieces, bytes];
    this.buffer = Buffer.concat(parts);
    this.pieces = [];
    this.piecesBytes = 0;
    let reply = '';
    if (this.state === 'nul') {
      if (this.buffer.length === 0) return { reply };
      if (this.buffer[0] !== 0) throw new ProtocolError('AUTH_NO_NUL', 'authentication did not start with a NUL byte');
      this.buffer = this.buffer.subarray(1);
      this.state = 'auth';
    }
    for (;;) {
      const nl = this.buffer.indexOf('\r\n');
      if (nl < 0) {
        if (this.buffer.length > MAX_LINE_BYTES) throw new ProtocolError('AUTH_LINE_TOO_LONG', 'authentication line too long');
        return { reply };
      }
      const line = this.buffer.subarray(0, nl).toString('latin1');
      this.buffer = this.buffer.subarray(nl + 2);
      if (++this.commands > MAX_COMMANDS) throw new ProtocolError('AUTH_TOO_MANY_COMMANDS', 'too many authentication commands');
      if (!/^[\x20-\x7e]*$/.test(line)) throw new ProtocolError('AUTH_BAD_LINE', 'authentication line with non-ASCII bytes');
      const done = this.command(line);
      reply += done.reply;
      if (done.begin) {
        this.state = 'done';
        const rest = new Uint8Array(this.buffer.length);
        rest.set(this.buffer);
        return { reply, result: { mechanism: this.mechanism, uid: this.uid, unixFd: this.unixFd, rest } };
      }
    }
  }

  private rejected(): string {
    this.state = 'auth';
    this.mechanism = '';
    return `REJECTED ${this.mechanisms.join(' ')}\r\n`;
  }

  private ok(): string {
    this.state = 'begin';
    return `OK ${this.options.guid}\r\n`;
  }

  private command(line: string): { reply: string; begin?: boolean } {
    const space = line.indexOf(' ');
    const verb = space < 0 ? line : line.slice(0, space);
    const arg = space < 0 ? '' : line.slice(space + 1);
    switch (this.state) {
      case 'auth':
        if (verb === 'AUTH') return { reply: this.auth(arg) };
        if (verb === 'ERROR') return { reply: this.rejected() };
        return { reply: 'ERROR "expected AUTH"\r\n' };
      case 'data':
        if (verb === 'DATA') return { reply: this.data(arg) };
        if (verb === 'CANCEL' || verb === 'ERROR') return { reply: this.rejected() };
        return { reply: 'ERROR "expected DATA"\r\n' };
      case 'begin':
        if (verb === 'BEGIN' && arg === '') return { reply: '', begin: true };
        if (verb === 'NEGOTIATE_UNIX_FD') {
          if (!this.options.unixFdCapable) return { reply: 'ERROR "unix fd passing is not supported on this transport"\r\n' };
          this.unixFd = true;
          return { reply: 'AGREE_UNIX_FD\r\n' };
        }
        if (verb === 'CANCEL' || verb === 'ERROR') return { reply: this.rejected() };
        return { reply: 'ERROR "expected BEGIN"\r\n' };
      default:
        throw new ProtocolError('AUTH_STATE', 'authentication already finished');
    }
  }

  private auth(arg: string): string {
    const space = arg.indexOf(' ');
    const mech = space < 0 ? arg : arg.slice(0, space);
    const initial = space < 0 ? undefined : arg.slice(space + 1);
    if (!this.mechanisms.includes(mech)) return this.rejected();
    this.mechanism = mech;
    if (initial === undefined) {
      if (mech === 'ANONYMOUS') return this.step('');
      this.state = 'data';
      return 'DATA\r\n';
    }
    return this.step(initial);
  }

  private data(arg: string): string {
    return this.step(arg);
  }

  /** One step of the chosen mechanism with hex-encoded client data. */
  private step(hex: string): string {
    if (!/^([0-9a-fA-F]{2})*$/.test(hex)) return this.rejected();
    const text = Buffer.from(hex, 'hex').toString('latin1');
    if (this.mechanism === 'EXTERNAL') {
      const peer = this.options.peerUid;
      if (peer === undefined) return this.rejected();
      if (text !== '' && (!/^\d+$/.test(text) || Number(text) !== peer)) return this.rejected();
      if (!this.options.allowUid(peer)) return this.rejected();
      this.uid = peer;
      return this.ok();
    }
    if (this.mechanism === 'ANONYMOUS') {
      this.uid = undefined;
      return this.ok();
    }
    if (this.mechanism === 'DBUS_COOKIE_SHA1') return this.cookieStep(text);
    return this.rejected();
  }

  private cookieStep(text: string): string {
    const cookie = this.options.cookie;
    if (!cookie) return this.rejected();
    if (this.cookieChallenge === '') {
      // First step: the client names a user; we name the cookie and challenge it.
      const uid = /^\d+$/.test(text) ? Number(text) : this.options.uidOfUser?.(text);
      if (uid === undefined) return this.rejected();
      let c: { context: string; id: string; secret: string };
      try {
        c = cookie();
      } catch {
        return this.rejected();
      }
      this.cookieChallenge = randomBytes(16).toString('hex');
      this.cookieSecret = c.secret;
      this.state = 'data';
      this.uid = uid;
      return `DATA ${Buffer.from(`${c.context} ${c.id} ${this.cookieChallenge}`, 'latin1').toString('hex')}\r\n`;
    }
    const [clientChallenge, digest] = text.split(' ');
    const expected = sha1Hex(`${this.cookieChallenge}:${clientChallenge}:${this.cookieSecret}`);
    this.cookieChallenge = '';
    if (clientChallenge === undefined || digest !== expected) return this.rejected();
    if (this.uid === undefined || !this.options.allowUid(this.uid)) return this.rejected();
    return this.ok();
  }
}

/** Whether `bytes` hold a line end (\r\n), or start one that a previous read ending in \r began. */
function hasLineEnd(bytes: Uint8Array, afterCr: boolean): boolean {
  for (let i = bytes.indexOf(0x0a); i >= 0; i = bytes.indexOf(0x0a, i + 1)) {
    if (i > 0 ? bytes[i - 1] === 0x0d : afterCr) return true;
  }
  return false;
}

function assertNotDone(state: State): void {
  if (state === 'done') throw new ProtocolError('AUTH_STATE', 'authentication already finished');
}

/** A new random server guid: 32 hex digits. */
export function newGuid(): string {
  return randomBytes(16).toString('hex');
}
