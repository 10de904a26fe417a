// A child process for the channel tests, driven by argv[2]:
//   echo        sends every message back; 'close' closes, 'exit' exits
//   digest      answers bytes with { bytes, sha256 } of what arrived, values with themselves
//   connect     connects to the listener at argv[3], then echoes
//   stall       never listens for messages, so its ring fills up
//   flood       sends argv[3] messages of random sizes up to argv[4] bytes
//               (a u32 sequence number, then that number's low byte), then 'done'
//   send-large  once the CMA verdict is known, sends one payload of argv[3] bytes and waits
//   burst       at once, sends argv[3] payloads of argv[4] bytes (each its own contents) with
//               trySend/whenWritable, then a report of its waits
//   late        echoes, but only after it gets SIGUSR2 (until then its rings and arenas fill up)
//   grandchild  starts a program that lists its own open fds and sends that list back
//   handles     uses what comes with each message: a net.Server (answers each connection with its pid),
//               a net.Socket (answers each chunk with its pid and the chunk), raw fds (sends back their
//               contents, then closes them); a message without handles is answered with 'none'
//   send-fds    sends argv[3] messages, each with a new fd of /dev/null, then prints 'sent N' (N fds passed)
//   fd-count    never listens; at close prints the fds it has that it did not have once its channel was open
//   hold-all    with its receive pool bounded to argv[5] bytes, holds every payload (argv[3] of argv[4] bytes,
//               payload i = pattern(size, i)); on 'report' answers { intact, mappedBytes, lends, misses }
//   bad-options calls parentChannel with options it refuses, then prints which of its inherited fds 3..6 are still open
import { createHook } from 'node:async_hooks';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { connect, parentChannel, type Channel, type ChannelOptions, type SendHandle } from '../../src/channel/index.js';
import { receivePool } from '../../src/channel/receive-pool.js';

const mode = process.argv[2];
const options: ChannelOptions = process.env.PEER_OPTIONS ? JSON.parse(process.env.PEER_OPTIONS) as ChannelOptions : {};

/** n bytes, byte k = (k * 31 + seed) & 0xff: payloads of different seeds differ everywhere. */
function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let k = 0; k < n; k++) b[k] = (k * 31 + seed) & 0xff;
  return b;
}

function echo(ch: Channel): void {
  ch.on('message', (m) => {
    if (m === 'exit') process.exit(0);
    if (m === 'close') return void ch.close();
    ch.send(m).catch(() => {});
  });
  ch.on('close', (reason, error) => {
    if (process.env.PEER_DEBUG) console.error('peer close', reason, error);
    process.exit(0);
  });
}

async function main(): Promise<void> {
  if (mode === 'echo') return echo(parentChannel(options));
  if (mode === 'digest') {
    // Answers each message with what it got: bytes as { bytes, sha256 }, values as they are.
    const ch = parentChannel(options);
    ch.on('message', (m) => {
      const reply = m instanceof Uint8Array ? { bytes: m.length, sha256: createHash('sha256').update(m).digest('hex') } : m;
      ch.send(reply).catch(() => {});
    });
    ch.on('close', () => process.exit(0));
    return;
  }
  if (mode === 'connect') return echo(await connect(process.argv[3], options));
  if (mode === 'late') {
    process.once('SIGUSR2', () => echo(ch));
    const ch = parentChannel(options);
    return;
  }
  if (mode === 'stall') {
    const ch = parentChannel(options);
    ch.on('close', () => process.exit(0));
    return;
  }
  if (mode === 'flood') {
    // Messages of pseudo-random sizes, each filled with its sequence number's low byte.
    const ch = parentChannel(options);
    const count = Number(process.argv[3]);
    const maxBytes = Number(process.argv[4]);
    let seed = 12345;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let i = 0; i < count; i++) {
      const b = new Uint8Array(4 + Math.floor(rand() * maxBytes));
      b.fill(i & 0xff);
      new DataView(b.buffer).setUint32(0, i, true);
      await ch.send(b);
    }
    await ch.send('done');
    ch.on('message', () => {});
    ch.on('close', () => process.exit(0));
    return;
  }
  if (mode === 'send-large') {
    const ch = parentChannel(options);
    const b = new Uint8Array(Number(process.argv[3])).fill(7);
    // Once the CMA verdict is known, a send puts its descriptor in the ring at once.
    await ch.ready;
    ch.send(b).catch(() => {});
    if (process.env.PEER_SAY_SENT) process.stdout.write(`sent ${JSON.stringify(ch.stats)}\n`);
    ch.on('message', () => {});
    ch.on('close', () => process.exit(0));
    return;
  }
  if (mode === 'burst') {
    // Payload i holds pattern(size, i). With PEER_SAY_WAITING, says 'waiting' on
    // stdout at the first whenWritable() that is still pending; at the end sends
    // { waits, fruitless, immediates }: how many times whenWritable() was
    // awaited, how many of those resolved without room for the next trySend,
    // and how many setImmediate callbacks this process made while waiting.
    const ch = parentChannel(options);
    const count = Number(process.argv[3]);
    const size = Number(process.argv[4]);
    let immediates = 0, waiting = false;
    createHook({ init(_id, type) { if (waiting && type === 'Immediate') immediates++; } }).enable();
    let i = 0, waits = 0, fruitless = 0;
    while (i < count) {
      while (i < count && ch.trySend(pattern(size, i))) i++;
      if (i === count) break;
      const writable = ch.whenWritable();
      let settled = false;
      void writable.then(() => { settled = true; });
      await null;
      if (!settled && waits === 0 && process.env.PEER_SAY_WAITING) process.stdout.write('waiting\n');
      waits++;
      waiting = true;
      await writable;
      waiting = false;
      if (!ch.trySend(pattern(size, i))) fruitless++;
      else i++;
    }
    await ch.send({ waits, fruitless, immediates });
    ch.on('message', () => {});
    ch.on('close', () => process.exit(0));
    return;
  }
  if (mode === 'handles') {
    const ch = parentChannel(options);
    ch.on('message', (m: unknown, handle?: SendHandle | SendHandle[]) => {
      if (handle === undefined) return void ch.send({ got: m, handle: 'none' });
      if (handle instanceof net.Server) {
        handle.on('connection', (c) => c.end(`served by ${process.pid}`));
        return void ch.send({ got: m, handle: 'server', listening: handle.listening });
      }
      if (handle instanceof net.Socket) {
        handle.on('data', (d) => handle.write(`child ${process.pid}: ${String(d)}`));
        return void ch.send({ got: m, handle: 'socket' });
      }
      const fds = Array.isArray(handle) ? handle as number[] : [handle];
      const contents = fds.map((fd) => readFileSync(fd, 'utf8'));
      for (const fd of fds) closeSync(fd);
      ch.send({ got: m, handle: Array.isArray(handle) ? 'fds' : 'fd', contents }).catch(() => {});
    });
    ch.on('close', () => process.exit(0));
    return;
  }
  if (mode === 'send-fds') {
    const ch = parentChannel(options);
    const n = Number(process.argv[3]);
    for (let i = 0; i < n; i++) {
      const fd = openSync('/dev/null', 'r');
      await ch.send(i, fd);
      closeSync(fd);
    }
    process.stdout.write(`sent ${ch.stats.handlesSent}\n`);
    ch.on('close', () => process.exit(0));
    return;
  }
  if (mode === 'fd-count') {
    const fds = (): Set<string> => new Set(readdirSync('/proc/self/fd').map((fd) => {
      try { return `${fd} ${readlinkSync(`/proc/self/fd/${fd}`)}`; } catch { return ''; } // the listing's own fd
    }).filter((x) => x !== ''));
    const ch = parentChannel(options);
    const before = fds();
    ch.on('close', () => {
      const extra = [...fds()].filter((x) => !before.has(x));
      process.stdout.write(`extra ${extra.length}${extra.length ? `: ${extra.join(', ')}` : ''}\n`);
      process.exit(0);
    });
    return;
  }
  if (mode === 'hold-all') {
    const [count, size, maxBytes] = process.argv.slice(3, 6).map(Number);
    receivePool.maxBytes = maxBytes;
    const ch = parentChannel(options);
    const held: Uint8Array[] = [];
    ch.on('message', (m) => {
      if (m instanceof Uint8Array) return void held.push(m);
      const intact = held.filter((b, i) => Buffer.compare(b, pattern(size, i)) === 0).length;
      const { mappedBytes, lends, misses } = receivePool.stats;
      ch.send(held.length === count ? { intact, mappedBytes, lends, misses } : { held: held.length }).catch(() => {});
    });
    ch.on('close', () => process.exit(0));
    return;
  }
  if (mode === 'bad-options') {
    let error = '';
    try {
      parentChannel({ pollUs: -1 });
    } catch (e) {
      error = (e as Error).name;
    }
    const open = [3, 4, 5, 6].filter((fd) => { try { fstatSync(fd); return true; } catch { return false; } });
    process.stdout.write(`${error} open [${open.join(',')}]\n`);
    process.exit(0);
  }
  if (mode === 'grandchild') {
    const ch = parentChannel(options);
    // /bin/ls opens /proc/self/fd itself, so its listing has one fd of its own beyond what it inherited.
    const listing = execFileSync('ls', ['-l', '/proc/self/fd'], { encoding: 'utf8' });
    await ch.send(listing);
    ch.on('message', () => {});
    ch.on('close', () => process.exit(0));
    return;
  }
  throw new Error(`unknown mode ${mode}`);
}

void main();
