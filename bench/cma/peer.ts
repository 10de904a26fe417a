// The other process of the cma benchmark: exposes one large buffer, and on
// request streams bytes to the parent over a unix socket or child_process IPC.
import net from 'node:net';
import { exposeBuffer } from '../../src/cma/index.js';

type Request =
  | { op: 'socket'; path: string; size: number; count: number }
  | { op: 'ipc'; size: number; count: number };

const maxBytes = Number(process.argv[2]);
const buffer = Buffer.alloc(maxBytes, 0x5a);
const exposed = exposeBuffer(buffer);
let socket: net.Socket | undefined;

async function stream(s: net.Socket, chunk: Buffer, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
  }
}

process.on('message', async (req: Request) => {
  const chunk = buffer.subarray(0, req.size);
  if (req.op === 'socket') {
    socket ??= await new Promise<net.Socket>((resolve) => { const s = net.connect(req.path, () => resolve(s)); });
    await stream(socket, chunk, req.count);
  } else {
    for (let i = 0; i < req.count; i++) {
      // wait for the channel to drain before the next message, like a socket's backpressure
      await new Promise<void>((resolve) => process.send!(chunk, undefined, {}, () => resolve()));
    }
  }
});
process.send!({ pid: process.pid, range: exposed.toJSON() });
