// The traffic of the live fuzzer (live-fuzz.ts): one sequence is what one raw
// client does on one connection, drawn from a seeded PRNG so that a seed gives
// the same sequences again: a SASL exchange (valid or broken), then valid
// calls and signals mixed with broken frames: partial frames, wrong lengths,
// bad signatures, forged senders, unsolicited replies, fd counts that lie,
// floods, stopping to read, and hanging up in the middle.
import { encodeMessage, MessageFlags, MessageType, type Message } from '../src/wire/index.js';
import { corpus, mutate } from './wire.fuzz.js';

/** One step of a sequence. */
export type Step =
  | { kind: 'bytes'; what: string; bytes: Uint8Array; fds?: number }
  | { kind: 'begin' }
  | { kind: 'pause' }
  | { kind: 'resume' }
  | { kind: 'hangup' };

const DBUS = { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus' };
const hex = (s: string): string => Buffer.from(s).toString('hex');
const WIRE_CORPUS = corpus();

/** Names the live fuzzer's well-behaved service owns (the target of calls and forged replies). */
export const ECHO_NAME = 'org.fastbus.fuzz.Echo';

function saslSteps(rnd: () => number, uid: number): Step[] {
  const good = `\0AUTH EXTERNAL ${hex(String(uid))}\r\n${rnd() < 0.7 ? 'NEGOTIATE_UNIX_FD\r\n' : ''}BEGIN\r\n`;
  if (rnd() < 0.85) {
    // Sometimes the valid exchange arrives a few bytes at a time.
    if (rnd() < 0.8) return [{ kind: 'bytes', what: 'sasl', bytes: Buffer.from(good, 'latin1') }, { kind: 'begin' }];
    const steps: Step[] = [];
    for (let at = 0; at < good.length;) {
      const n = 1 + Math.floor(rnd() * 6);
      steps.push({ kind: 'bytes', what: 'sasl piece', bytes: Buffer.from(good.slice(at, at + n), 'latin1') });
      at += n;
    }
    steps.push({ kind: 'begin' });
    return steps;
  }
  const vocabulary = [
    `AUTH EXTERNAL ${hex(String(uid + 1))}\r\n`, 'AUTH EXTERNAL\r\n', 'AUTH ANONYMOUS\r\n', 'AUTH FOO\r\n', 'DATA\r\n', 'DATA zz\r\n',
    'NEGOTIATE_UNIX_FD\r\n', 'BEGIN\r\n', 'CANCEL\r\n', 'ERROR\r\n', '\r\n', 'x'.repeat(20000), 'AUTH DBUS_COOKIE_SHA1 72\r\n', '\n',
  ];
  const text = (rnd() < 0.8 ? '\0' : '') + Array.from({ length: 1 + Math.floor(rnd() * 6) }, () => vocabulary[Math.floor(rnd() * vocabulary.length)]).join('');
  const steps: Step[] = [{ kind: 'bytes', what: 'broken sasl', bytes: Buffer.from(text, 'latin1') }];
  if (rnd() < 0.5) steps.push({ kind: 'begin' });
  return steps;
}

function message(m: Partial<Message>, serial: number): Uint8Array {
  return encodeMessage({ type: MessageType.METHOD_CALL, flags: 0, body: [], ...m, serial } as Message);
}

/** One step after the handshake. */
function trafficStep(rnd: () => number, serial: number, out: Step[]): void {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const name = pick([ECHO_NAME, 'org.fastbus.fuzz.A', 'org.fastbus.fuzz.B', ':1.1', ':1.9999', 'org.freedesktop.DBus']);
  const bytes = (what: string, b: Uint8Array, fds?: number): void => {
    out.push(fds === undefined ? { kind: 'bytes', what, bytes: b } : { kind: 'bytes', what, bytes: b, fds });
  };
  // Most steps are ones a live peer survives, so that sequences reach deeper states before one that ends them.
  const BENIGN = [0, 1, 2, 3, 4, 9, 10, 12, 13];
  const RISKY = [5, 6, 7, 8, 11, 14];
  switch (rnd() < 0.75 ? pick(BENIGN) : pick(RISKY)) {
    case 0: bytes('driver call', message({ ...DBUS, member: pick(['GetId', 'ListNames', 'ListActivatableNames', 'Features']) }, serial)); break;
    case 1: {
      const member = pick(['RequestName', 'ReleaseName', 'NameHasOwner', 'GetNameOwner', 'StartServiceByName']);
      const body = member === 'RequestName' || member === 'StartServiceByName' ? [name, Math.floor(rnd() * 8)] : [name];
      bytes(member, message({ ...DBUS, member, signature: member === 'RequestName' || member === 'StartServiceByName' ? 'su' : 's', body }, serial));
      break;
    }
    case 2: {
      const rule = pick(["type='signal'", "type='signal',member='Tick'", "sender='org.freedesktop.DBus'", "eavesdrop='true'", "type='bogus'", "arg0='x'", "arg99='no'", "path_namespace='/a'"]);
      bytes('AddMatch', message({ ...DBUS, member: pick(['AddMatch', 'RemoveMatch']), signature: 's', body: [rule] }, serial));
      break;
    }
    case 3: bytes('echo call', message({ destination: ECHO_NAME, path: '/echo', interface: 'org.fastbus.fuzz', member: 'Echo', signature: 's', body: ['x'.repeat(Math.floor(rnd() * 5000))], flags: rnd() < 0.3 ? MessageFlags.NO_REPLY_EXPECTED : 0 }, serial)); break;
    case 4: bytes('signal', message({ type: MessageType.SIGNAL, path: '/fuzz', interface: 'org.fastbus.fuzz', member: pick(['Tick', 'Tock']), signature: 'u', body: [serial] }, serial)); break;
    case 5: bytes('mutated message', mutate(pick(WIRE_CORPUS), rnd)); break;
    case 6: { // a partial frame, then maybe the rest
      const m = message({ ...DBUS, member: 'GetId' }, serial);
      const cut = 1 + Math.floor(rnd() * (m.length - 1));
      bytes('partial frame', m.subarray(0, cut));
      if (rnd() < 0.5) bytes('rest of frame', m.subarray(cut));
      break;
    }
    case 7: { // the body length says more (or less) than is sent
      const m = Buffer.from(message({ destination: ECHO_NAME, path: '/echo', member: 'Echo', signature: 's', body: ['abc'] }, serial));
      m.writeUInt32LE(pick([0, 1, 3, 1000, 0x7fffffff, 0xffffffff, 64 << 20]), 4);
      bytes('wrong length', m);
      break;
    }
    case 8: { // a body that does not match its signature
      const m = message({ destination: ECHO_NAME, path: '/echo', member: 'Echo', signature: 's', body: ['abcdefgh'] }, serial);
      // The SIGNATURE header field (code 8, variant 'g') holding "s": its type code becomes another.
      const sigAt = Buffer.from(m).indexOf(Buffer.from([8, 1, 0x67, 0, 1, 0x73, 0]), 12);
      if (sigAt > 0) m[sigAt + 5] = pick([0x61, 0x28, 0x76, 0x7b, 0x68, 0x7a, 0x75, 0x79]);
      bytes('bad signature', m);
      break;
    }
    case 9: bytes('forged sender', message({ type: MessageType.SIGNAL, sender: pick(['org.freedesktop.DBus', ':1.1', ECHO_NAME]), path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'NameOwnerChanged', signature: 'sss', body: [ECHO_NAME, ':1.1', ''] }, serial)); break;
    case 10: { // a reply nobody asked for (return or error), to the echo service or the bus
      const type = rnd() < 0.5 ? MessageType.METHOD_RETURN : MessageType.ERROR;
      bytes('unsolicited reply', message({ type, destination: name, replySerial: 1 + Math.floor(rnd() * 50), ...(type === MessageType.ERROR ? { errorName: 'org.x.Err' } : {}) }, serial));
      break;
    }
    case 11: { // UNIX_FDS says n, and m fds travel with it
      const says = Math.floor(rnd() * 4);
      const sent = Math.floor(rnd() * 4);
      const m = message({ destination: ECHO_NAME, path: '/echo', member: 'Echo', signature: says > 0 ? 'h' : '', body: says > 0 ? [0] : [], unixFds: says }, serial);
      bytes(`fds: header ${says}, sent ${sent}`, m, sent);
      break;
    }
    case 12: { // a flood of signals and calls
      const n = 50 + Math.floor(rnd() * 500);
      const parts: Uint8Array[] = [];
      for (let k = 0; k < n; k++) {
        parts.push(rnd() < 0.5
          ? message({ type: MessageType.SIGNAL, path: '/fuzz', interface: 'org.fastbus.fuzz', member: 'Tick', signature: 'u', body: [k] }, serial + k)
          : message({ destination: ECHO_NAME, path: '/echo', member: 'Echo', signature: 's', body: ['flood'] }, serial + k));
      }
      bytes(`flood of ${n}`, Buffer.concat(parts));
      break;
    }
    case 13: out.push({ kind: rnd() < 0.7 ? 'pause' : 'resume' }); break;
    default: out.push({ kind: 'hangup' });
  }
}

/** The steps of one sequence for a client of `uid`. */
export function sequence(rnd: () => number, uid: number): Step[] {
  const steps = saslSteps(rnd, uid);
  if (rnd() < 0.9) steps.push({ kind: 'bytes', what: 'Hello', bytes: message({ ...DBUS, member: 'Hello' }, 1) });
  const n = 1 + Math.floor(rnd() * 20);
  for (let k = 0; k < n; k++) trafficStep(rnd, 2 + k * 1000, steps);
  return steps;
}
