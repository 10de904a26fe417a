// The other process of the channel benchmarks, driven by argv[2]:
//   ch-send N SIZE [json]   on 'go' over its fastbus channel, sends N messages of SIZE bytes ('warm': one)
//   ch-echo                 echoes every channel message
//   efd-echo                rings the eventfd at fd 5 each time the one at fd 4 is rung (no channel)
//   ch-recv N               counts byte messages: 'warm' after the first, 'done' after N more
//   ipc-send N              on 'go' over child_process IPC, sends N 64-character strings
//   ipc-echo                echoes every IPC message
//   net-send PATH N SIZE    connects to PATH; on a byte from it, writes N length-prefixed frames
//   net-echo PATH           connects to PATH and echoes each frame
//   net-recv PATH N SIZE    connects to PATH; writes one byte after N frames of SIZE bytes
import net from 'node:net';
import { parentChannel, type ChannelOptions } from '../../src/channel/index.js';
import * as native from '../../src/native/native.js';

const [mode, a, b, c] = process.argv.slice(2);
const options = JSON.parse(process.env.BENCH_OPTIONS ?? '{}') as ChannelOptions;
let efdPoller: native.PollHandle | null = null;

async function chSend(n: number, size: number, json: boolean): Promise<void> {
  const ch = parentChannel(options);
  const msg: unknown = json ? 'x'.repeat(size - 2) : new Uint8Array(size).fill(1);
  ch.on('message', async (m) => {
    if (m === 'warm') return void ch.send(msg);
    if (m !== 'go') return;
    let i = 0;
    while (i < n) {
      while (i < n && ch.trySend(msg)) i++;
      if (i < n) await ch.whenWritable();
    }
  });
  ch.on('close', () => process.exit(0));
}

function chRecv(n: number): void {
  const ch = parentChannel(options);
  let count = 0;
  ch.on('message', (m) => {
    if (!(m instanceof Uint8Array)) return;
    if (++count === 1) void ch.send('warm');
    else if (count === n + 1) void ch.send('done');
  });
  ch.on('close', () => process.exit(0));
}

function chEcho(): void {
  const ch = parentChannel(options);
  ch.on('message', (m) => { ch.trySend(m) || void ch.send(m); });
  ch.on('close', () => process.exit(0));
}

function frames(sock: net.Socket, onFrame: (frame: Buffer) => void): void {
  let pending: Buffer[] = [];
  let have = 0;
  sock.on('data', (chunk: Buffer) => {
    pending.push(chunk);
    have += chunk.length;
    for (;;) {
      if (have < 4) return;
      const head = pending.length === 1 ? pending[0] : Buffer.concat(pending);
      pending = [head];
      const len = head.readUInt32LE(0);
      if (have < 4 + len) return;
      onFrame(head.subarray(4, 4 + len));
      const rest = head.subarray(4 + len);
      pending = rest.length ? [rest] : [];
      have = rest.length;
    }
  });
}

function main(): void {
  switch (mode) {
    case 'ch-send': return void chSend(Number(a), Number(b), c === 'json');
    case 'ch-echo': return chEcho();
    case 'efd-echo': {
      // Kept referenced: a poller whose handle is collected stops.
      efdPoller = native.pollOpen(4, native.POLL_READABLE, () => {
        native.efdDrain(4);
        native.efdSignal(5, 1);
      });
      // Ends with the parent (the poller alone would keep it running).
      process.on('disconnect', () => process.exit(0));
      return;
    }
    case 'ch-recv': return chRecv(Number(a));
    case 'ipc-send': {
      const msg = 'x'.repeat(64);
      const n = Number(a);
      process.on('message', (m) => {
        if (m !== 'go') return;
        for (let i = 0; i < n; i++) process.send!(msg);
      });
      return;
    }
    case 'ipc-echo':
      process.on('message', (m) => process.send!(m));
      return;
    case 'net-send': {
      const n = Number(b), size = Number(c);
      const sock = net.connect(a);
      const frame = Buffer.alloc(4 + size, 1);
      frame.writeUInt32LE(size, 0);
      sock.once('data', () => {
        let i = 0;
        const pump = (): void => {
          while (i < n) {
            i++;
            if (!sock.write(frame)) return void sock.once('drain', pump);
          }
        };
        pump();
      });
      sock.on('close', () => process.exit(0));
      return;
    }
    case 'net-recv': {
      // Each frame copied once into a buffer of its own, as the parent's net reader does.
      const n = Number(b), size = Number(c);
      const sock = net.connect(a);
      let count = 0, frame: Buffer | null = null, filled = 0, skip = 4;
      sock.on('data', (chunk: Buffer) => {
        let at = 0;
        while (at < chunk.length) {
          if (skip > 0) {
            const k = Math.min(skip, chunk.length - at);
            skip -= k;
            at += k;
            if (skip === 0) { frame = Buffer.allocUnsafe(size); filled = 0; }
            continue;
          }
          const k = Math.min(size - filled, chunk.length - at);
          chunk.copy(frame!, filled, at, at + k);
          filled += k;
          at += k;
          if (filled === size) {
            skip = 4;
            if (++count === n) sock.write(Buffer.of(1));
          }
        }
      });
      sock.on('close', () => process.exit(0));
      return;
    }
    case 'net-echo': {
      const sock = net.connect(a);
      frames(sock, (f) => {
        const out = Buffer.allocUnsafe(4 + f.length);
        out.writeUInt32LE(f.length, 0);
        f.copy(out, 4);
        sock.write(out);
      });
      sock.on('close', () => process.exit(0));
      return;
    }
  }
  throw new Error(`unknown mode ${mode}`);
}

main();
