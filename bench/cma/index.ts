// `npm run bench -- cma`: bandwidth of cross-memory attach against the
// kernel's own speed (a C program), memcpy, a unix socket between two Node
// processes, and child_process IPC, at 4 KiB .. 64 MiB.
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFrom, writeTo, type RemoteRange } from '../../src/cma/index.js';
import { buildC } from '../c-program.js';
import type { BenchContext, GroupResult, Row, Table } from '../harness.js';

const KiB = 1024, MiB = 1024 * KiB;
const here = path.dirname(fileURLToPath(import.meta.url));

function label(size: number): string {
  return size >= MiB ? `${size / MiB} MiB` : `${size / KiB} KiB`;
}

function gbps(bytes: number, ns: bigint): number {
  return bytes / Number(ns);
}

/** Times `iterations` calls after one untimed call (as the C program warms up). */
function timeLoop(iterations: number, fn: () => void): bigint {
  fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  return process.hrtime.bigint() - t0;
}

export async function run(ctx: BenchContext): Promise<GroupResult> {
  const sizes = ctx.quick ? [4 * KiB, MiB, 16 * MiB] : [4 * KiB, 64 * KiB, MiB, 16 * MiB, 64 * MiB];
  const perSample = ctx.quick ? 64 * MiB : 256 * MiB;
  const maxSize = Math.max(...sizes);
  ctx.progress('cma: building the C process_vm_readv program');
  const cProgram = buildC('c/vm-readv.c');

  // A C process holding a buffer: both the C program and fastbus read it, so
  // the same memory is measured both ways.
  const holder = spawn(cProgram, ['hold', String(maxSize)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(holder.stdout!, 'data')) as [Buffer];
  const [holderPid, holderAddress] = line.toString().trim().split(' ');
  const cPid = Number(holderPid);
  const cBase = BigInt(holderAddress);
  const child: ChildProcess = fork(path.join(here, 'peer.js'), [String(maxSize)], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [hello] = (await once(child, 'message')) as [{ pid: number; range: { address: string } }];
  const pid = hello.pid;
  const base = BigInt(hello.range.address);
  const sockPath = path.join(os.tmpdir(), `fastbus-bench-cma-${process.pid}.sock`);
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(sockPath, r));
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;

  const tables: Table[] = [];
  for (const size of sizes) {
    const iterations = Math.max(1, Math.floor(perSample / size));
    const bytes = size * iterations;
    const rows: Record<string, number[]> = {
      'C process_vm_readv, C peer': [], 'fastbus readFrom, C peer': [], 'fastbus writeTo, C peer': [],
      'C process_vm_readv, Node peer': [], 'fastbus readFrom, Node peer': [], 'fastbus writeTo, Node peer': [],
      'memcpy (Buffer.copy)': [], 'Node unix socket': [], 'child_process IPC (advanced)': [],
    };
    ctx.progress(`cma: ${label(size)} x ${iterations} per sample, ${ctx.repeat} samples`);
    const target = Buffer.alloc(size);
    const source = Buffer.alloc(size, 1);
    const remote: RemoteRange[] = [{ address: base, length: size }];
    const cRemote: RemoteRange[] = [{ address: cBase, length: size }];
    readFrom(pid, remote, [target]);
    for (let k = 0; k < ctx.repeat; k++) {
      // interleaved, so that noise from other processes falls on every row alike
      const cRead = (p: number, a: bigint) => Number(execFileSync(cProgram, [String(p), a.toString(), String(size), String(perSample)], { encoding: 'utf8' }));
      rows['C process_vm_readv, C peer'].push(cRead(cPid, cBase));
      rows['fastbus readFrom, C peer'].push(gbps(bytes, timeLoop(iterations, () => readFrom(cPid, cRemote, [target]))));
      rows['fastbus writeTo, C peer'].push(gbps(bytes, timeLoop(iterations, () => writeTo(cPid, [source], cRemote))));
      rows['C process_vm_readv, Node peer'].push(cRead(pid, base));
      rows['fastbus readFrom, Node peer'].push(gbps(bytes, timeLoop(iterations, () => readFrom(pid, remote, [target]))));
      rows['fastbus writeTo, Node peer'].push(gbps(bytes, timeLoop(iterations, () => writeTo(pid, [source], remote))));
      rows['memcpy (Buffer.copy)'].push(gbps(bytes, timeLoop(iterations, () => source.copy(target))));

    }
    // socket and IPC make garbage in this process: measured after, so its GC cannot fall on the rows above
    for (let k = 0; k < ctx.repeat; k++) {
      // unix socket: the peer writes `iterations` chunks; we count bytes until all arrived
      child.send({ op: 'socket', path: sockPath, size, count: iterations });
      const [sock] = await accepted;
      const t0 = process.hrtime.bigint();
      await new Promise<void>((resolve) => {
        let got = 0;
        const onData = (d: Buffer) => {
          got += d.length;
          if (got >= bytes) { sock.off('data', onData); resolve(); }
        };
        sock.on('data', onData);
      });
      rows['Node unix socket'].push(gbps(bytes, process.hrtime.bigint() - t0));

      const ipcCount = Math.max(1, Math.min(iterations, Math.floor((ctx.quick ? 16 : 64) * MiB / size)));
      const t1 = process.hrtime.bigint();
      child.send({ op: 'ipc', size, count: ipcCount });
      await new Promise<void>((resolve) => {
        let got = 0;
        const onMessage = () => { if (++got === ipcCount) { child.off('message', onMessage); resolve(); } };
        child.on('message', onMessage);
      });
      rows['child_process IPC (advanced)'].push(gbps(size * ipcCount, process.hrtime.bigint() - t1));
    }
    const tableRows: Row[] = Object.entries(rows).map(([l, samples]) => ({ label: l, samples, unit: 'GB/s', higherIsBetter: true }));
    tables.push({ title: `${label(size)} transfers`, rows: tableRows, baseline: 'C process_vm_readv, C peer' });
  }
  (await accepted)[0].destroy();
  server.close();
  child.kill();
  holder.kill();
  return {
    tables,
    notes: [
      'Each sample moves the same bytes between two processes (memcpy: within one). GB/s = 10^9 bytes per second.',
      'fastbus readFrom/writeTo are one process_vm_readv/writev per transfer through the Node-API binding; the C program makes the same call in a loop (the kernel\'s own speed). Both read the same memory: a buffer held by a C process ("C peer", the baseline) and one exposed by a Node process ("Node peer"). Every row gets one untimed warm-up transfer.',
      'Node unix socket: a child writes the bytes in chunks of the given size to a net.Socket; child_process IPC: Buffers sent with serialization "advanced", one message per chunk.',
    ],
  };
}
