import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError } from '../errors.js';
import { SaslServer, newGuid, type SaslServerOptions } from './sasl-server.js';
import { SaslClient } from './sasl-client.js';

const guid = newGuid();
const hex = (s: string) => Buffer.from(s).toString('hex');
const opts = (o: Partial<SaslServerOptions> = {}): SaslServerOptions => ({
  guid, peerUid: 1000, allowUid: (u) => u === 1000, allowAnonymous: false, unixFdCapable: true, ...o,
});

describe('SASL server', () => {
  it('accepts the whole exchange and the first message bytes in one read', () => {
    const s = new SaslServer(opts());
    const r = s.receive(Buffer.from(`\0AUTH EXTERNAL ${hex('1000')}\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\nlMSG`));
    assert.equal(r.reply, `OK ${guid}\r\nAGREE_UNIX_FD\r\n`);
    assert.equal(r.result?.uid, 1000);
    assert.equal(r.result?.unixFd, true);
    assert.equal(Buffer.from(r.result!.rest).toString(), 'lMSG');
  });

  it('answers DATA to EXTERNAL without an initial response, then takes the uid from the socket', () => {
    const s = new SaslServer(opts());
    assert.equal(s.receive(Buffer.from('\0AUTH EXTERNAL\r\n')).reply, 'DATA\r\n');
    const r = s.receive(Buffer.from('DATA\r\nBEGIN\r\n'));
    assert.equal(r.reply, `OK ${guid}\r\n`);
    assert.equal(r.result?.uid, 1000);
    assert.equal(r.result?.unixFd, false);
  });

  it('takes bytes one at a time', () => {
    const s = new SaslServer(opts());
    let reply = '';
    let done = false;
    for (const b of Buffer.from(`\0AUTH EXTERNAL ${hex('1000')}\r\nBEGIN\r\n`)) {
      const r = s.receive(Uint8Array.of(b));
      reply += r.reply;
      done ||= r.result !== undefined;
    }
    assert.equal(reply, `OK ${guid}\r\n`);
    assert.ok(done);
  });

  it('rejects a claimed uid that is not the socket peer, and lists its mechanisms', () => {
    const s = new SaslServer(opts());
    assert.equal(s.receive(Buffer.from(`\0AUTH EXTERNAL ${hex('0')}\r\n`)).reply, 'REJECTED EXTERNAL\r\n');
  });

  it('rejects a uid the bus does not allow', () => {
    const s = new SaslServer(opts({ peerUid: 1001 }));
    assert.equal(s.receive(Buffer.from(`\0AUTH EXTERNAL ${hex('1001')}\r\n`)).reply, 'REJECTED EXTERNAL\r\n');
  });

  it('answers ERROR to an unknown command and still accepts AUTH afterwards', () => {
    const s = new SaslServer(opts());
    const r = s.receive(Buffer.from(`\0FOO\r\nNEGOTIATE_UNIX_FD\r\nAUTH EXTERNAL ${hex('1000')}\r\nBEGIN\r\n`));
    assert.match(r.reply, /^ERROR .*\r\nERROR .*\r\nOK [0-9a-f]{32}\r\n$/);
    assert.ok(r.result);
  });

  it('accepts ANONYMOUS only when allowed', () => {
    assert.equal(new SaslServer(opts()).receive(Buffer.from('\0AUTH ANONYMOUS\r\n')).reply, 'REJECTED EXTERNAL\r\n');
    const s = new SaslServer(opts({ allowAnonymous: true, peerUid: undefined }));
    const r = s.receive(Buffer.from(`\0AUTH ANONYMOUS ${hex('trace')}\r\nBEGIN\r\n`));
    assert.equal(r.result?.mechanism, 'ANONYMOUS');
    assert.equal(r.result?.uid, undefined);
  });

  it('refuses unix fds on a transport that cannot carry them', () => {
    const s = new SaslServer(opts({ unixFdCapable: false }));
    const r = s.receive(Buffer.from(`\0AUTH EXTERNAL ${hex('1000')}\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n`));
    assert.match(r.reply, /^OK .*\r\nERROR .*\r\n$/);
    assert.equal(r.result?.unixFd, false);
  });

  it('drops a client that does not start with a NUL byte', () => {
    assert.throws(() => new SaslServer(opts()).receive(Buffer.from('AUTH EXTERNAL\r\n')), (e: unknown) => e instanceof ProtocolError && e.code === 'AUTH_NO_NUL');
  });

  it('drops a client that sends an endless line', () => {
    const s = new SaslServer(opts());
    assert.throws(() => s.receive(Buffer.concat([Buffer.from('\0AUTH '), Buffer.alloc(20000, 0x41)])), ProtocolError);
  });

  it('drops a client whose endless line arrives in small reads once it passes 16384 bytes, not before', () => {
    const s = new SaslServer(opts());
    s.receive(Buffer.from('\0'));
    for (let n = 0; n < 16384; n += 64) s.receive(Buffer.alloc(64, 0x41));
    assert.throws(() => s.receive(Buffer.alloc(1, 0x41)), (e: unknown) => e instanceof ProtocolError && e.code === 'AUTH_LINE_TOO_LONG');
  });

  it('gives the same replies and result, and the same bytes after BEGIN, whatever the reads the exchange is cut into', () => {
    const wire = Buffer.from(`\0AUTH EXTERNAL\r\nDATA\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\nlMSG\r\nrest`);
    const run = (cuts: number[]): { reply: string; uid?: number; unixFd?: boolean; rest?: string } => {
      const s = new SaslServer(opts());
      let reply = '';
      let from = 0;
      for (const to of [...cuts, wire.length]) {
        const r = s.receive(wire.subarray(from, to));
        reply += r.reply;
        if (r.result) return { reply, uid: r.result.uid, unixFd: r.result.unixFd, rest: Buffer.concat([r.result.rest, wire.subarray(to)]).toString('latin1') };
        from = to;
      }
      return { reply };
    };
    const whole = run([]);
    assert.deepEqual(whole, { reply: `DATA\r\nOK ${guid}\r\nAGREE_UNIX_FD\r\n`, uid: 1000, unixFd: true, rest: 'lMSG\r\nrest' });
    for (let cut = 1; cut < wire.length; cut++) assert.deepEqual(run([cut]), whole, `cut at ${cut}`);
    assert.deepEqual(run(Array.from({ length: wire.length - 1 }, (_, i) => i + 1)), whole, 'a byte at a time');
  });

  it('hands over exactly the bytes after BEGIN when they come in the read that ends it', () => {
    const s = new SaslServer(opts());
    assert.equal(s.receive(Buffer.from(`\0AUTH EXTERNAL ${hex('1000')}\r\nBEG`)).reply, `OK ${guid}\r\n`);
    const r = s.receive(Buffer.from('IN\r\n\r\nl\0\0'));
    assert.deepEqual([...r.result!.rest], [...Buffer.from('\r\nl\0\0')]);
  });

  it('does not take a lone \n as a line end, nor a \r\n split by another read as two', () => {
    const s = new SaslServer(opts());
    assert.equal(s.receive(Buffer.from(`\0AUTH EXTERNAL ${hex('1000')}\n`)).reply, '');
    assert.throws(() => s.receive(Buffer.from('\r\n')), (e: unknown) => e instanceof ProtocolError && e.code === 'AUTH_BAD_LINE');
    const t = new SaslServer(opts());
    assert.equal(t.receive(Buffer.from(`\0AUTH EXTERNAL ${hex('1000')}\r`)).reply, '');
    assert.equal(t.receive(Buffer.from('x')).reply, '');
    assert.equal(t.receive(Buffer.from('\n')).reply, '');
    assert.throws(() => t.receive(Buffer.from('\r\n')), (e: unknown) => e instanceof ProtocolError && e.code === 'AUTH_BAD_LINE');
  });

  it('joins a line whose \r and \n arrive in different reads', () => {
    const s = new SaslServer(opts());
    assert.equal(s.receive(Buffer.from(`\0AUTH EXTERNAL ${hex('1000')}\r`)).reply, '');
    assert.equal(s.receive(Buffer.from('\nBEG')).reply, `OK ${guid}\r\n`);
    assert.equal(s.receive(Buffer.from('IN\r\nl')).result?.uid, 1000);
  });
});

describe('SASL client and server together', () => {
  it('agree on EXTERNAL and unix fds', () => {
    const s = new SaslServer(opts());
    const c = new SaslClient({ uid: 1000, negotiateUnixFd: true });
    let toServer = c.start();
    for (let i = 0; i < 10; i++) {
      const r = s.receive(Buffer.from(toServer, 'latin1'));
      if (r.result) {
        assert.equal(r.result.unixFd, true);
        return;
      }
      const cr = c.receive(Buffer.from(r.reply, 'latin1'));
      toServer = cr.send;
      if (cr.result) assert.equal(cr.result.guid, guid);
    }
    assert.fail('no BEGIN');
  });

  it('fall back from EXTERNAL to ANONYMOUS when the server offers only that', () => {
    const s = new SaslServer(opts({ peerUid: undefined, allowAnonymous: true }));
    const c = new SaslClient({ uid: 1000, negotiateUnixFd: false });
    const r1 = s.receive(Buffer.from(c.start(), 'latin1'));
    assert.equal(r1.reply, 'REJECTED ANONYMOUS\r\n');
    const c1 = c.receive(Buffer.from(r1.reply));
    const r2 = s.receive(Buffer.from(c1.send));
    const c2 = c.receive(Buffer.from(r2.reply));
    assert.equal(c2.result?.mechanism, 'ANONYMOUS');
    assert.ok(s.receive(Buffer.from(c2.send)).result);
  });
});
