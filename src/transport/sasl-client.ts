// The client side of D-Bus authentication (specification, "Authentication
// Protocol"): EXTERNAL with our uid, falling back to ANONYMOUS when the server
// rejects it and offers ANONYMOUS; then NEGOTIATE_UNIX_FD when asked, then
// BEGIN. A state machine fed raw bytes: the caller moves the bytes.
import { ProtocolError } from '../errors.js';

export interface SaslClientOptions {
  /** Our uid for EXTERNAL; undefined skips EXTERNAL (e.g. tcp to another host). */
  uid: number | undefined;
  /** Ask for unix fd passing. */
  negotiateUnixFd: boolean;
}

export interface SaslClientResult {
  guid: string;
  mechanism: string;
  unixFd: boolean;
  /** Bytes the server sent after its last reply (normally none). */
  rest: Uint8Array;
}

type State = 'auth' | 'fd' | 'done';

/** Call `start()` for the first bytes, then `receive()` with each read. */
export class SaslClient {
  private state: State = 'auth';
  private buffer: Buffer = Buffer.alloc(0);
  private tried: string[] = [];
  private mechanism = '';
  private guid = '';
  private readonly options: SaslClientOptions;

  constructor(options: SaslClientOptions) {
    this.options = options;
  }

  /** The first bytes to send: the NUL byte and the first AUTH. */
  start(): string {
    return '\0' + this.nextAuth(undefined);
  }

  private nextAuth(offered: string[] | undefined): string {
    const order = this.options.uid !== undefined ? ['EXTERNAL', 'ANONYMOUS'] : ['ANONYMOUS'];
    const mech = order.find((m) => !this.tried.includes(m) && (offered === undefined || offered.includes(m)));
    if (mech === undefined) {
      throw new ProtocolError('AUTH_REJECTED', `the server rejected every mechanism we offer (it offers: ${offered?.join(' ') ?? 'none'})`);
    }
    this.tried.push(mech);
    this.mechanism = mech;
    const initial = mech === 'EXTERNAL' ? String(this.options.uid) : 'fastbus';
    return `AUTH ${mech} ${Buffer.from(initial, 'latin1').toString('hex')}\r\n`;
  }

  /** Takes received bytes; returns bytes to send and, when done, the result. */
  receive(bytes: Uint8Array): { send: string; result?: SaslClientResult } {
    if (this.state === 'done') throw new ProtocolError('AUTH_STATE', 'authentication already finished');
    const parts: Uint8Array[] = [this.buffer, bytes];
    this.buffer = Buffer.concat(parts);
    let send = '';
    for (;;) {
      const nl = this.buffer.indexOf('\r\n');
      if (nl < 0) {
        if (this.buffer.length > 16384) throw new ProtocolError('AUTH_LINE_TOO_LONG', 'server authentication line too long');
        return { send };
      }
      const line = this.buffer.subarray(0, nl).toString('latin1');
      this.buffer = this.buffer.subarray(nl + 2);
      const [verb, ...args] = line.split(' ');
      if (this.state === 'auth') {
        if (verb === 'OK' && /^[0-9a-fA-F]{32}$/.test(args[0] ?? '')) {
          this.guid = args[0];
          if (this.options.negotiateUnixFd) {
            this.state = 'fd';
            send += 'NEGOTIATE_UNIX_FD\r\n';
            continue;
          }
          return this.finish(send + 'BEGIN\r\n', false);
        }
        if (verb === 'REJECTED') {
          send += this.nextAuth(args);
          continue;
        }
        if (verb === 'DATA') {
          // EXTERNAL/ANONYMOUS need no further data: answer empty.
          send += 'DATA\r\n';
          continue;
        }
        if (verb === 'ERROR') {
          send += 'CANCEL\r\n';
          continue;
        }
        throw new ProtocolError('AUTH_UNEXPECTED', `unexpected server line '${line}'`);
      }
      if (verb === 'AGREE_UNIX_FD') return this.finish(send + 'BEGIN\r\n', true);
      if (verb === 'ERROR') return this.finish(send + 'BEGIN\r\n', false);
      throw new ProtocolError('AUTH_UNEXPECTED', `unexpected server line '${line}'`);
    }
  }

  private finish(send: string, unixFd: boolean): { send: string; result: SaslClientResult } {
    this.state = 'done';
    const rest = new Uint8Array(this.buffer.length);
    rest.set(this.buffer);
    return { send, result: { guid: this.guid, mechanism: this.mechanism, unixFd, rest } };
  }
}
