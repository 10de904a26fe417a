// Listeners that pause: a unix or tcp listener paused takes no connection
// (it waits, in the kernel's backlog or unread) while another listener goes
// on taking them, and gets it once resumed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openListener, type AcceptedConnection, type Listener } from './listener.js';
import type { BusAddress } from './bus-address.js';

function connectTo(l: Listener): net.Socket {
  const p = l.address.params;
  const s = p.path !== undefined ? net.connect(p.path) : net.connect(Number(p.port), p.host);
  s.on('error', () => undefined);
  return s;
}

for (const transport of ['unix', 'tcp'] as const) {
  describe(`a paused ${transport} listener`, { timeout: 20000 }, () => {
    it('takes no connection while paused, while another listener takes one, and takes it once resumed', async (t) => {
      const dir = mkdtempSync(path.join(tmpdir(), 'fastbus-listener-'));
      const address = (name: string): BusAddress => (transport === 'unix'
        ? { transport, params: { path: path.join(dir, name) } } : { transport, params: { host: '127.0.0.1', port: '0' } });
      const got: string[] = [];
      const waiters: Array<() => void> = [];
      const arrived = (name: string) => (c: AcceptedConnection): void => {
        got.push(name);
        c.stream.close();
        for (const w of waiters.splice(0)) w();
      };
      const until = (name: string): Promise<void> => new Promise((resolve) => {
        const check = (): void => (got.includes(name) ? resolve() : void waiters.push(check));
        check();
      });
      const paused = await openListener(address('paused'), arrived('paused'));
      const other = await openListener(address('other'), arrived('other'));
      const sockets: net.Socket[] = [];
      t.after(() => {
        for (const s of sockets) s.destroy();
        paused.close();
        other.close();
        rmSync(dir, { recursive: true, force: true });
      });
      paused.pause();
      const first = connectTo(paused);
      sockets.push(first);
      await new Promise((resolve) => first.once('connect', resolve));
      sockets.push(connectTo(other));
      await until('other');
      assert.deepEqual(got, ['other']);
      paused.resume();
      await until('paused');
      assert.deepEqual(got, ['other', 'paused']);
    });
  });
}
