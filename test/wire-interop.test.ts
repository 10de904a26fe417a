// The wire format against real encoders and decoders: GDBus (PyGObject's
// Gio.DBusMessage, both byte orders), libdbus (python3-dbus over a
// peer-to-peer socket), dbus-send and sd-bus (busctl, which is answered Hello
// by the test). Their messages decode exactly; ours are read back exactly.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { decodeMessage, encodeMessage, MessageType, parseSignature, type Message, type SignatureType } from '../src/wire/index.js';
import { bodyFromTagged, bodyToTagged, type Tagged } from './wire-tagged.js';
import { startPeerServer } from './wire-peer-server.js';

const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/wire-interop.py');
const PY = '/usr/bin/python3';

function py(args: string[], input?: string): unknown {
  const r = spawnSync(PY, [script, ...args], { input, encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

interface Case { signature: string; body: Tagged[] }
type Header = Partial<Message> & { type: number; flags: number };
const cases = py(['cases']) as Case[];

/** The header each case travels with (mirrors header_for in wire-interop.py). */
function headerFor(i: number): Header {
  switch (i % 4) {
    case 0: return { type: 1, flags: 0, path: '/org/example/Obj', interface: 'org.example.Iface', member: `Call${i}`, destination: 'org.example.Dest' };
    case 1: return { type: 4, flags: 0, path: '/org/example/Obj', interface: 'org.example.Iface', member: 'Changed', sender: `:1.${i}` };
    case 2: return { type: 2, flags: 0, replySerial: 1000 + i, destination: ':1.7' };
    default: return { type: 3, flags: 0, replySerial: 2000 + i, errorName: `org.example.Error.Bad${i}`, destination: ':1.8' };
  }
}

function ourMessage(i: number, serial: number): Message {
  const c = cases[i];
  return { ...headerFor(i), serial, signature: c.signature, body: bodyFromTagged(c.signature, c.body) };
}

function assertHeader(m: ReturnType<typeof decodeMessage>, h: Header): void {
  for (const k of ['type', 'flags', 'path', 'interface', 'member', 'destination', 'sender', 'errorName', 'replySerial'] as const) {
    assert.equal(m[k], h[k], k);
  }
}

describe('wire interop with GDBus (Gio.DBusMessage)', () => {
  it('decodes exactly every message GDBus encodes, in both byte orders', () => {
    const fixtures = py(['gio-make']) as Array<{ case: number; endian: string; hex: string; serial: number; header: Header; signature: string; body: Tagged[] }>;
    assert.equal(fixtures.length, cases.length * 2);
    for (const f of fixtures) {
      const m = decodeMessage(Buffer.from(f.hex, 'hex'));
      assert.equal(m.endian, f.endian);
      assert.equal(m.serial, f.serial);
      assertHeader(m, f.header);
      assert.equal(m.signature ?? '', f.signature);
      assert.deepEqual(bodyToTagged(m.signature, m.body), f.body, `case ${f.case} (${f.signature}) ${f.endian}`);
    }
  });

  it('has its encodings read back exactly by GDBus, in both byte orders', () => {
    const ours: string[] = [];
    for (let i = 0; i < cases.length; i++) {
      for (const endian of ['little', 'big'] as const) ours.push(encodeMessage(ourMessage(i, 500 + i), { endian }).toString('hex'));
    }
    const read = py(['gio-read'], JSON.stringify(ours)) as Array<{ header: Header & { endian: string; serial: number }; signature: string; body: Tagged[] }>;
    read.forEach((r, j) => {
      const i = j >> 1;
      const h = headerFor(i);
      assert.equal(r.header.endian, j % 2 ? 'big' : 'little');
      assert.equal(r.header.serial, 500 + i);
      for (const k of ['type', 'flags', 'path', 'interface', 'member', 'destination', 'sender', 'errorName', 'replySerial'] as const) assert.equal(r.header[k], h[k], k);
      assert.equal(r.signature, cases[i].signature);
      assert.deepEqual(r.body, cases[i].body, `case ${i} (${cases[i].signature})`);
    });
  });
});

describe('wire interop with libdbus (python3-dbus) and dbus-send', () => {
  it('decodes exactly what libdbus sends, and libdbus reads back our replies in both byte orders', { timeout: 30_000 }, async () => {
    const received: Buffer[] = [];
    const errors: Error[] = [];
    const replies = cases.length * 2 + 1;
    const server = await startPeerServer((bytes, write) => {
      const m = decodeMessage(bytes);
      if (m.member === 'Give') {
        const k = (m.body[0] as number);
        const i = k >> 1;
        const reply: Message = k === replies - 1
          ? { type: MessageType.ERROR, flags: 0, serial: 9000 + k, replySerial: m.serial, errorName: 'org.example.Error.Nope', signature: 's', body: ['it went wrong ✗'] }
          : { type: MessageType.METHOD_RETURN, flags: 0, serial: 9000 + k, replySerial: m.serial, signature: cases[i].signature, body: bodyFromTagged(cases[i].signature, cases[i].body) };
        write(encodeMessage(reply, { endian: k % 2 ? 'big' : 'little' }));
      } else received.push(bytes);
    }, (e) => errors.push(e));
    try {
      const child = spawn(PY, [script, 'libdbus', server.address, String(replies)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => { stderr += d; });
      const lines: unknown[] = [];
      for await (const line of createInterface({ input: child.stdout })) lines.push(JSON.parse(line));
      const code = await new Promise((r) => child.on('close', r));
      assert.equal(code, 0, stderr);
      assert.deepEqual(errors, []);
      // What libdbus sent.
      assert.equal(received.length, cases.length);
      received.forEach((bytes, i) => {
        const m = decodeMessage(bytes);
        assert.equal(m.type, i % 2 === 0 ? MessageType.METHOD_CALL : MessageType.SIGNAL);
        assert.equal(m.member, i % 2 === 0 ? `Call${i}` : 'Changed');
        assert.equal(m.path, '/org/example/Obj');
        assert.equal(m.signature ?? '', cases[i].signature);
        assert.deepEqual(bodyToTagged(m.signature, m.body), cases[i].body, `case ${i} (${cases[i].signature})`);
      });
      // What libdbus read from us.
      const got = lines.slice(1) as Array<{ k: number; type: number; signature?: string; errorName?: string; body: Tagged[] }>;
      assert.equal(got.length, replies);
      for (const r of got) {
        if (r.k === replies - 1) {
          assert.equal(r.type, 3);
          assert.equal(r.errorName, 'org.example.Error.Nope');
          assert.deepEqual(r.body, ['it went wrong ✗']);
          continue;
        }
        const i = r.k >> 1;
        assert.equal(r.type, 2);
        assert.equal(r.signature, cases[i].signature);
        assert.deepEqual(r.body, cases[i].body, `reply ${r.k}: case ${i} (${cases[i].signature})`);
      }
    } finally {
      server.close();
    }
  });

  it('decodes exactly a call made by dbus-send', { timeout: 30_000 }, async () => {
    const got: Buffer[] = [];
    const errors: Error[] = [];
    let done!: () => void;
    const arrived = new Promise<void>((r) => { done = r; });
    const server = await startPeerServer((bytes) => { got.push(bytes); done(); }, (e) => errors.push(e));
    try {
      const child = spawn('dbus-send', [`--peer=${server.address}`, '--type=method_call', '--dest=org.example.Dest', '/org/example/Obj', 'org.example.Iface.Do',
        'string:héllo', 'int32:-5', 'uint64:18446744073709551615', 'boolean:true', 'double:2.5', 'objpath:/a/b', 'array:string:x,y', 'dict:string:int32:k,1,j,2', 'variant:uint16:7', 'byte:200'],
      { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => { stderr += d; });
      const code = await new Promise((r) => child.on('close', r));
      assert.equal(code, 0, stderr);
      await arrived;
      const m = decodeMessage(got[0]);
      assert.equal(m.type, MessageType.METHOD_CALL);
      assert.equal(m.member, 'Do');
      assert.equal(m.interface, 'org.example.Iface');
      assert.equal(m.destination, 'org.example.Dest');
      assert.equal(m.signature, 'sitbdoasa{si}vy');
      assert.deepEqual(bodyToTagged(m.signature, m.body), ['héllo', -5, '18446744073709551615', true, 2.5, '/a/b', ['x', 'y'], [['k', 1], ['j', 2]], ['q', 7], 200]);
      assert.deepEqual(errors, []);
    } finally {
      server.close();
    }
  });
});

/** busctl's --json value of type `t` in the tagged form (64-bit integers arrive quoted, see quoteBigIntegers). */
function fromBusctl(t: SignatureType, v: unknown): Tagged {
  switch (t.code) {
    case 'x': case 't': return String(v);
    case 'v': {
      const { type, data } = v as { type: string; data: unknown };
      return [type, fromBusctl(parseSignature(type)[0], data)];
    }
    case 'a': {
      const el = t.element!;
      if (el.code === 'y') return Buffer.from(v as number[]).toString('hex');
      if (el.code === '{') {
        const [k, x] = el.fields!;
        return Object.entries(v as Record<string, unknown>).map(([key, val]) => [
          k.code === 's' || k.code === 'o' || k.code === 'g' ? key : k.code === 'x' || k.code === 't' ? key : k.code === 'b' ? key === 'true' : Number(key),
          fromBusctl(x, val),
        ]);
      }
      return (v as unknown[]).map((x) => fromBusctl(el, x));
    }
    case '(': return (v as unknown[]).map((x, i) => fromBusctl(t.fields![i], x));
    default: return v;
  }
}

/** JSON.parse with integers of 16 or more digits kept exact, as strings. */
function parseExact(text: string): unknown {
  return JSON.parse(text.replace(/([[:,])(-?\d{16,})(?=[,\]}])/g, '$1"$2"'));
}

describe('wire interop with sd-bus (busctl)', () => {
  it('decodes exactly a call busctl makes, and busctl reads our replies exactly in both byte orders', { timeout: 30_000 }, async () => {
    const replySig = 'sa{sv}atay(xd)a{ob}';
    const replyBody: Tagged[] = ['hé ✓', [['a', ['i', 1]], ['b', ['as', ['x', '']]], ['c', ['(ty)', ['18446744073709551615', 3]]]],
      ['18446744073709551615', '0'], '0102ff', ['-9223372036854775808', 0.5], [['/a', true], ['/', false]]];
    const calls: Buffer[] = [];
    const errors: Error[] = [];
    const server = await startPeerServer((bytes, write) => {
      const m = decodeMessage(bytes);
      if (m.member === 'Hello') {
        write(encodeMessage({ type: 2, flags: 0, serial: 1, replySerial: m.serial, sender: 'org.freedesktop.DBus', destination: ':1.1', signature: 's', body: [':1.1'] }));
        return;
      }
      calls.push(bytes);
      write(encodeMessage({ type: 2, flags: 0, serial: 2, replySerial: m.serial, destination: ':1.1', signature: replySig, body: bodyFromTagged(replySig, replyBody) },
        { endian: calls.length % 2 ? 'little' : 'big' }));
    }, (e) => errors.push(e));
    try {
      for (let k = 0; k < 2; k++) {
        const child = spawn('busctl', [`--address=${server.address}`, '--json=short', '--', 'call', 'org.example.Dest', '/org/example/Obj', 'org.example.Iface', 'Do',
          'sa{sv}atyb(in)', 'héllo', '2', 'a', 'i', '-1', 'b', 'as', '2', 'x', 'y', '2', '18446744073709551615', '0', '200', 'true', '-7', '-32768'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => { out += d; });
        child.stderr.on('data', (d) => { err += d; });
        const code = await new Promise((r) => child.on('close', r));
        assert.equal(code, 0, err);
        const { type, data } = parseExact(out) as { type: string; data: unknown[] };
        assert.equal(type, replySig);
        assert.deepEqual(parseSignature(type).map((t, i) => fromBusctl(t, data[i])), replyBody, `reply ${k} (${k ? 'big' : 'little'}-endian)`);
      }
      assert.deepEqual(errors, []);
      assert.equal(calls.length, 2);
      const m = decodeMessage(calls[0]);
      assert.equal(m.signature, 'sa{sv}atyb(in)');
      assert.equal(m.destination, 'org.example.Dest');
      assert.deepEqual(bodyToTagged(m.signature, m.body), ['héllo', [['a', ['i', -1]], ['b', ['as', ['x', 'y']]]], ['18446744073709551615', '0'], 200, true, [-7, -32768]]);
    } finally {
      server.close();
    }
  });
});
