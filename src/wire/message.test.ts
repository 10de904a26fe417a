import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  encodeMessage, decodeMessage, decodeHeader, withSender, frameLength, Variant, MessageType, MessageFlags, EncodeError, ProtocolError, MessageEncoder,
  type Message,
} from './index.js';

const call: Message = {
  type: MessageType.METHOD_CALL, flags: MessageFlags.NO_AUTO_START, serial: 7, path: '/org/example/Obj', interface: 'org.example.Iface',
  member: 'Hello', destination: 'org.example.App', signature: 'sa{sv}ay(ixd)',
  body: ['hi ünï', new Map<string, Variant>([['a', new Variant('i', -5)], ['b', new Variant('as', ['x', 'y'])]]), Buffer.from([1, 2, 3]), [1, 2n ** 40n, 0.5]],
};

describe('messages', () => {
  for (const endian of ['little', 'big'] as const) {
    it(`round-trips a method call with every header field set (${endian}-endian)`, () => {
      const bytes = encodeMessage(call, { endian });
      assert.equal(bytes[0], endian === 'little' ? 0x6c : 0x42);
      assert.equal(frameLength(bytes), bytes.length);
      const m = decodeMessage(bytes);
      assert.equal(m.endian, endian);
      assert.equal(m.type, 1);
      assert.equal(m.flags, 2);
      assert.equal(m.serial, 7);
      assert.equal(m.path, call.path);
      assert.equal(m.interface, call.interface);
      assert.equal(m.member, call.member);
      assert.equal(m.destination, call.destination);
      assert.equal(m.signature, call.signature);
      assert.equal(m.sender, undefined);
      assert.equal(m.totalLength, bytes.length);
      assert.equal(m.headerLength % 8, 0);
      assert.deepEqual(m.body, call.body);
    });
  }

  it('decodes the header alone, without the body', () => {
    const bytes = encodeMessage(call);
    const h = decodeHeader(bytes.subarray(0, decodeHeader(bytes).headerLength));
    assert.equal(h.member, 'Hello');
    assert.equal(h.bodyLength, bytes.length - h.headerLength);
    assert.equal('body' in h, false);
  });

  for (const endian of ['little', 'big'] as const) {
    it(`re-emits with a new sender and copies the body bytes untouched (${endian}-endian)`, () => {
      const bytes = encodeMessage({ ...call, sender: ':1.999999' }, { endian });
      const h = decodeHeader(bytes);
      const out = withSender(bytes, ':1.2', h);
      const o = decodeHeader(out);
      assert.equal(o.sender, ':1.2');
      assert.equal(o.endian, endian);
      assert.deepEqual(out.subarray(o.headerLength), bytes.subarray(h.headerLength));
      assert.deepEqual(decodeMessage(out).body, call.body);
      const added = withSender(encodeMessage(call, { endian }), ':1.3');
      assert.equal(decodeMessage(added).sender, ':1.3');
    });
  }

  it('keeps unknown header fields, and drops them when asked', () => {
    const bytes = encodeMessage(call);
    // Append field 200 = variant 's' "zz" to the header field array by hand.
    const h = decodeHeader(bytes);
    const fieldsEnd = 16 + bytes.readUInt32LE(12);
    const pad = (8 - (fieldsEnd % 8)) % 8;
    const field = Buffer.from([200, 1, 0x73, 0, 2, 0, 0, 0, 0x7a, 0x7a, 0]);
    const newFieldsLen = fieldsEnd + pad + field.length - 16;
    const headerLen = (16 + newFieldsLen + 7) & ~7;
    const out = Buffer.alloc(headerLen + h.bodyLength);
    bytes.copy(out, 0, 0, fieldsEnd);
    field.copy(out, fieldsEnd + pad);
    out.writeUInt32LE(newFieldsLen, 12);
    bytes.copy(out, headerLen, h.headerLength);
    const m = decodeMessage(out);
    assert.deepEqual(m.unknownFields, [{ code: 200, value: new Variant('s', 'zz') }]);
    assert.deepEqual(m.body, call.body);
    assert.deepEqual(decodeHeader(withSender(out, ':1.1')).unknownFields, m.unknownFields);
    assert.equal(decodeHeader(withSender(out, ':1.1', undefined, { dropUnknownFields: true })).unknownFields, undefined);
    assert.deepEqual(decodeMessage(encodeMessage(m, { endian: 'big' })).unknownFields, m.unknownFields, 'encodeMessage writes them again');
    assert.throws(() => encodeMessage({ ...call, unknownFields: [{ code: 3, value: new Variant('s', 'x') }] }), /unknownFields: expected a field code 10..255/);
  });

  it('decodes ay as a view of the input in zero-copy mode, and as a copy otherwise', () => {
    const bytes = encodeMessage({ type: 4, flags: 0, serial: 1, path: '/', interface: 'a.b', member: 'C', signature: 'ay', body: [Buffer.from('hello')] });
    const view = decodeMessage(bytes, { zeroCopy: true }).body[0] as Buffer;
    const copy = decodeMessage(bytes).body[0] as Buffer;
    assert.equal(view.toString(), 'hello');
    assert.equal(copy.toString(), 'hello');
    bytes.fill(0x21, bytes.length - 8);
    assert.equal(view.toString(), '!!!!!');
    assert.equal(copy.toString(), 'hello');
  });

  it('decodes string-keyed dicts as plain objects when asked', () => {
    const bytes = encodeMessage({ type: 2, flags: 0, serial: 3, replySerial: 9, signature: 'a{sv}a{iv}', body: [{ k: new Variant('s', 'v') }, new Map([[1, new Variant('b', true)]])] });
    const [o, m] = decodeMessage(bytes, { dictAsObject: true }).body as [Record<string, Variant>, Map<number, Variant>];
    assert.deepEqual({ ...o }, { k: new Variant('s', 'v') });
    assert.equal(Object.getPrototypeOf(o), null);
    assert.ok(m instanceof Map);
    // a{sv} has a path of its own; other string-keyed dicts take the general one.
    const two = encodeMessage({ type: 2, flags: 0, serial: 4, replySerial: 9, signature: 'a{sv}a{os}', body: [{ a: new Variant('u', 1), b: new Variant('as', ['x']) }, { '/p': 'q' }] });
    const [sv, os] = decodeMessage(two, { dictAsObject: true }).body as [Record<string, Variant>, Record<string, string>];
    assert.deepEqual({ ...sv }, { a: new Variant('u', 1), b: new Variant('as', ['x']) });
    assert.deepEqual({ ...os }, { '/p': 'q' });
    assert.equal(Object.getPrototypeOf(os), null);
    // Keys that name Object.prototype's members are own data properties, never a prototype's.
    const odd = encodeMessage({ type: 2, flags: 0, serial: 5, replySerial: 9, signature: 'a{sv}', body: [new Map<string, Variant>([['__proto__', new Variant('s', 'p')], ['constructor', new Variant('u', 2)], ['toString', new Variant('b', true)]])] });
    const [oddObj] = decodeMessage(odd, { dictAsObject: true }).body as [Record<string, Variant>];
    assert.equal(Object.getPrototypeOf(oddObj), null);
    assert.deepEqual(Object.keys(oddObj), ['__proto__', 'constructor', 'toString']);
    assert.deepEqual(oddObj['__proto__'], new Variant('s', 'p'));
    assert.deepEqual(oddObj.constructor, new Variant('u', 2));
  });

  it('sets UNIX_FDS from the fds given or from the largest fd index in the body', () => {
    const base = { type: 4, flags: 0, serial: 1, path: '/', interface: 'a.b', member: 'C', signature: 'hv' };
    assert.equal(decodeHeader(encodeMessage({ ...base, body: [0, new Variant('h', 2)] })).unixFds, 3);
    assert.equal(decodeHeader(encodeMessage({ ...base, body: [0, new Variant('h', 0)], fds: [10, 11] })).unixFds, 2);
    assert.throws(() => encodeMessage({ ...base, body: [1, new Variant('h', 0)], unixFds: 1 }), EncodeError);
    const bytes = encodeMessage({ ...base, body: [0, new Variant('h', 1)] });
    assert.throws(() => decodeMessage(bytes, { fdCount: 1 }), (e: unknown) => e instanceof ProtocolError && e.code === 'BAD_FD');
    assert.deepEqual(decodeMessage(bytes, { fdCount: 2 }).body, [0, new Variant('h', 1)]);
  });

  it('refuses to encode messages missing the fields their type requires', () => {
    assert.throws(() => encodeMessage({ type: 1, flags: 0, serial: 1, member: 'X', body: [] }), /METHOD_CALL requires path/);
    assert.throws(() => encodeMessage({ type: 4, flags: 0, serial: 1, path: '/', member: 'X', body: [] }), /SIGNAL requires interface/);
    assert.throws(() => encodeMessage({ type: 3, flags: 0, serial: 1, replySerial: 1, body: [] }), /ERROR requires errorName/);
    assert.throws(() => encodeMessage({ type: 2, flags: 0, serial: 1, body: [] }), /METHOD_RETURN requires replySerial/);
    assert.throws(() => encodeMessage({ type: 2, flags: 0, serial: 0, replySerial: 1, body: [] }), /serial: expected a nonzero uint32/);
    assert.throws(() => encodeMessage({ type: 9, flags: 0, serial: 1, body: [] }), /type: expected 1/);
    assert.throws(() => encodeMessage({ type: 1, flags: 0, serial: 1, path: 'x', member: 'X', body: [] }), /path: "x" does not start/);
    assert.throws(() => encodeMessage({ type: 1, flags: 0, serial: 1, path: '/', member: 'X', destination: 'org..x', body: [] }), /destination: "org..x" element 2 is empty/);
    assert.throws(() => encodeMessage({ type: 1, flags: 0, serial: 1, path: '/', member: 'X', body: [1] }), /body: signature "" has 0/);
  });

  it('says where a body value does not match its signature', () => {
    const m = (signature: string, body: unknown[]) => () => encodeMessage({ type: 2, flags: 0, serial: 1, replySerial: 1, signature, body });
    assert.throws(m('iaau', [1, [[1], [2, 3, -1]]]), { name: 'EncodeError', message: 'body[1][1][2]: expected uint32, got -1' });
    assert.throws(m('a{sv}', [{ x: new Variant('(iu)', [1, -1]) }]), { message: 'body[0]["x"].value[1]: expected uint32, got -1' });
    assert.throws(m('y', [256]), { message: 'body[0]: expected byte (integer 0..255), got 256' });
    assert.throws(m('b', [1]), /expected boolean/);
    assert.throws(m('n', [40000]), /expected int16/);
    assert.throws(m('x', [2n ** 63n]), /expected int64/);
    assert.throws(m('t', [-1n]), /expected uint64/);
    assert.throws(m('s', ['a\0b']), /NUL/);
    assert.throws(m('s', ['\ud800']), /surrogate/);
    assert.throws(m('o', ['/a/']), /invalid object path/);
    assert.throws(m('g', ['a']), /no element type/);
    assert.throws(m('v', ['x']), /expected Variant/);
    assert.throws(m('v', [new Variant('ii', [1, 2])]), /one complete type/);
    assert.throws(m('(ii)', [[1]]), /expected struct \(ii\)/);
    assert.throws(m('a{is}', [{ 1: 'x' }]), /use a Map/);
  });
});

describe('MessageEncoder', () => {
  it('reuses its buffer: a view valid until the next encode, with the same bytes as encodeMessage', () => {
    const enc = new MessageEncoder();
    const big = { ...call, signature: 'ay', body: [Buffer.alloc(200_000, 5)] };
    const first = enc.encode(big);
    assert.deepEqual(first, encodeMessage(big));
    const second = enc.encode({ ...big, serial: 8 });
    assert.equal(second.buffer, first.buffer, 'the grown buffer is kept');
    assert.equal(decodeMessage(second).serial, 8);
    assert.deepEqual(enc.encode(call), encodeMessage(call));
  });
});

describe('decoding from views', () => {
  it('decodes a message from a plain Uint8Array at an odd offset of a larger buffer', () => {
    const msg: Message = { type: 4, flags: 0, serial: 5, path: '/p', interface: 'a.b', member: 'C', signature: 'ydxtnqayb', body: [1, -0.5, -(2n ** 62n), 2n ** 63n, -7, 9, Buffer.from('zz'), true] };
    for (const endian of ['little', 'big'] as const) {
      const bytes = encodeMessage(msg, { endian });
      const ab = new ArrayBuffer(bytes.length + 7);
      const view = new Uint8Array(ab, 3, bytes.length);
      view.set(bytes);
      const m = decodeMessage(view, { zeroCopy: true });
      assert.deepEqual(m.body, msg.body);
      assert.equal((m.body[6] as Buffer).buffer, ab, 'the ay is a view of the input');
      assert.equal(decodeHeader(view).serial, 5);
      assert.deepEqual(decodeMessage(withSender(view, ':1.9')).body, msg.body);
    }
  });
});

describe('the decoder string cache', () => {
  it('gives back every string exactly, through misses, evictions and hits', () => {
    const strings = Array.from({ length: 6000 }, (_, i) => (i % 3 === 0 ? `k${i}` : i % 3 === 1 ? `/org/example/Obj${i}/x` : `value ${i} ${'z'.repeat(i % 60)}`));
    const bytes = encodeMessage({ type: 4, flags: 0, serial: 1, path: '/', interface: 'a.b', member: 'C', signature: 'as', body: [strings] });
    for (let round = 0; round < 3; round++) assert.deepEqual(decodeMessage(bytes).body[0], strings);
    const keys = encodeMessage({ type: 4, flags: 0, serial: 1, path: '/', interface: 'a.b', member: 'C', signature: 'a{sv}', body: [new Map(strings.slice(0, 50).map((s) => [s, new Variant('s', s)]))] });
    for (let round = 0; round < 3; round++) assert.deepEqual([...(decodeMessage(keys).body[0] as Map<string, Variant>).keys()], strings.slice(0, 50));
  });
});
