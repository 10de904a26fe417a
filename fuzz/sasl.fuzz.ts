// Fuzzer for the SASL server (the first bytes any client sends): random
// exchanges of valid and broken lines, cut into random chunks. Each receive
// must answer or throw ProtocolError, nothing else, and a finished exchange
// must never grant more than the options allow: EXTERNAL only for the peer's
// own uid when that uid is allowed, ANONYMOUS only when anonymous is allowed.
import { ProtocolError } from '../src/errors.js';
import { SaslServer, newGuid } from '../src/transport/sasl-server.js';
import { prng, type FuzzFailure } from './wire.fuzz.js';

const hex = (s: string): string => Buffer.from(s).toString('hex');
const LONG = 'x'.repeat(20000);

function lines(peerUid: number): string[] {
  return [
    `AUTH EXTERNAL ${hex(String(peerUid))}\r\n`, `AUTH EXTERNAL ${hex(String(peerUid + 1))}\r\n`, 'AUTH EXTERNAL\r\n',
    'AUTH ANONYMOUS\r\n', `AUTH ANONYMOUS ${hex('trace')}\r\n`, 'AUTH\r\n', 'AUTH FOO\r\n', 'AUTH DBUS_COOKIE_SHA1 72\r\n',
    'DATA\r\n', `DATA ${hex(String(peerUid))}\r\n`, 'DATA zz\r\n', 'NEGOTIATE_UNIX_FD\r\n', 'BEGIN\r\n', 'CANCEL\r\n',
    'ERROR\r\n', 'OK 0123\r\n', '\r\n', 'AUTH EXTERNAL 3\r\n', 'BEGIN', '\n', LONG, '\0',
  ];
}

/** Runs `iterations` exchanges from `seed`; returns the failures (empty when all held). */
export function fuzzSasl(iterations: number, seed: number): FuzzFailure[] {
  const rnd = prng(seed);
  const failures: FuzzFailure[] = [];
  for (let i = 0; i < iterations && failures.length < 10; i++) {
    const peerUid = rnd() < 0.3 ? undefined : Math.floor(rnd() * 2000);
    // Half the time the peer is the allowed user, so that exchanges succeed too.
    const allowed = peerUid !== undefined && rnd() < 0.5 ? peerUid : Math.floor(rnd() * 2000);
    const allowAnonymous = rnd() < 0.5;
    const server = new SaslServer({ guid: newGuid(), peerUid, allowUid: (u) => u === allowed, allowAnonymous, unixFdCapable: rnd() < 0.5 });
    const vocabulary = lines(peerUid ?? 0);
    const text = (rnd() < 0.9 ? '\0' : '') + Array.from({ length: 1 + Math.floor(rnd() * 8) }, () => vocabulary[Math.floor(rnd() * vocabulary.length)]).join('');
    const bytes = Buffer.from(text, 'latin1');
    const input = JSON.stringify({ peerUid, allowed, allowAnonymous, text: text.length > 200 ? `${text.slice(0, 200)}…` : text });
    try {
      for (let at = 0; at < bytes.length;) {
        // Mostly small pieces (every split of a line), sometimes large ones.
        const n = 1 + Math.floor(rnd() * (rnd() < 0.8 ? 40 : 4096));
        const { result } = server.receive(bytes.subarray(at, at + n));
        at += n;
        if (!result) continue;
        if (result.mechanism === 'EXTERNAL' && (result.uid !== peerUid || result.uid !== allowed)) {
          failures.push({ input, problem: `EXTERNAL granted uid ${result.uid} (peer ${peerUid}, allowed ${allowed})` });
        }
        if (result.mechanism === 'ANONYMOUS' && !allowAnonymous) failures.push({ input, problem: 'ANONYMOUS granted where it is not allowed' });
        if (result.mechanism !== 'EXTERNAL' && result.mechanism !== 'ANONYMOUS') failures.push({ input, problem: `granted by ${result.mechanism}` });
        break;
      }
    } catch (e) {
      if (!(e instanceof ProtocolError)) failures.push({ input, problem: `threw ${(e as Error)?.name}: ${(e as Error)?.message}` });
    }
  }
  return failures;
}
