#!/usr/bin/python3
# Real encoders and decoders for test/wire-interop.test.ts: GDBus (through
# PyGObject's Gio.DBusMessage, both byte orders) and libdbus (through
# python3-dbus, over a peer-to-peer connection to the test's socket).
# Values travel as "tagged" JSON, driven by the signature:
#   y n q i u h -> int; x t -> decimal string; d -> float; b -> bool; s o g -> str
#   ay -> hex string; aX -> list; a{KV} -> list of [k, v]; (...) -> list; v -> [signature, value]
# Modes: cases | gio-make | gio-read (JSON list of hex on stdin) | libdbus ADDRESS
import json
import sys

CASES = [
    ('s', ['hello']),
    ('s', ['\u00fcn\u00ef \u20ac\U0001d11e \u2603']),
    ('ybnqiuxtd', [255, True, -32768, 65535, -2147483648, 4294967295, '-9223372036854775808', '18446744073709551615', -1.5]),
    ('ybnqiuxtd', [0, False, 32767, 0, 2147483647, 0, '9223372036854775807', '0', 3.141592653589793]),
    ('as', [['a', '', 'ccc']]),
    ('ay', ['00ff10']),
    ('ay', ['']),
    ('ax', [[]]),
    ('yax', [1, []]),
    ('aax', [[[], ['1', '2']]]),
    ('a{sv}', [[['a', ['i', 1]], ['b', ['s', 'x']], ['c', ['as', ['p', 'q']]], ['d', ['v', ['s', 'deep']]],
                ['e', ['(iy)', [1, 2]]], ['f', ['a{ix}', [[1, '5']]]], ['g', ['ay', 'beef']], ['h', ['d', 0.5]], ['i', ['t', '7']]]]),
    ('(ia(sy))', [[7, [['x', 1], ['yy', 2]]]]),
    ('a{ua{sy}}', [[[1, [['a', 1]]], [2, []]]]),
    ('oga{oi}', ['/org/x/Y', 'a{sv}(ii)', [['/', 1], ['/a/b', -2]]]),
    ('v', [['v', ['ad', [1.5, -0.25]]]]),
    ('a(yx)', [[[1, '2'], [3, '4']]]),
    ('ynbyqy', [1, -2, True, 3, 4, 5]),
    ('', []),
]

# Message kinds: (type, fields). Bodies come from CASES.
def header_for(i):
    kind = i % 4
    if kind == 0:
        return {'type': 1, 'flags': 0, 'path': '/org/example/Obj', 'interface': 'org.example.Iface', 'member': 'Call%d' % i,
                'destination': 'org.example.Dest'}
    if kind == 1:
        return {'type': 4, 'flags': 0, 'path': '/org/example/Obj', 'interface': 'org.example.Iface', 'member': 'Changed', 'sender': ':1.%d' % i}
    if kind == 2:
        return {'type': 2, 'flags': 0, 'replySerial': 1000 + i, 'destination': ':1.7'}
    return {'type': 3, 'flags': 0, 'replySerial': 2000 + i, 'errorName': 'org.example.Error.Bad%d' % i, 'destination': ':1.8'}


def parse_sig(sig):
    """Splits a signature into its complete types."""
    out, i = [], 0
    while i < len(sig):
        j = end_of(sig, i)
        out.append(sig[i:j])
        i = j
    return out


def end_of(sig, i):
    c = sig[i]
    if c == 'a':
        return end_of(sig, i + 1)
    if c in '({':
        close = ')' if c == '(' else '}'
        i += 1
        while sig[i] != close:
            i = end_of(sig, i)
        return i + 1
    return i + 1


def inner(sig):
    """Member types of a struct or dict entry signature."""
    return parse_sig(sig[1:-1])


# ---- GDBus (GVariant) ----
def gi():
    import gi as g
    g.require_version('Gio', '2.0')
    from gi.repository import Gio, GLib
    return Gio, GLib


def build_gv(GLib, sig, t):
    c = sig[0]
    if c in 'ybnqiuhd':
        return GLib.Variant(sig, t)
    if c in 'xt':
        return GLib.Variant(sig, int(t))
    if c in 'bsog':
        return GLib.Variant(sig, t)
    if c == 'v':
        return GLib.Variant.new_variant(build_gv(GLib, t[0], t[1]))
    if sig == 'ay':
        return GLib.Variant('ay', bytes.fromhex(t))
    if c == 'a':
        el = sig[1:]
        if el[0] == '{':
            k, v = inner(el)
            items = [GLib.Variant.new_dict_entry(build_gv(GLib, k, kv[0]), build_gv(GLib, v, kv[1])) for kv in t]
        else:
            items = [build_gv(GLib, el, x) for x in t]
        return GLib.Variant.new_array(GLib.VariantType.new(el), items)
    if c == '(':
        return GLib.Variant.new_tuple(*[build_gv(GLib, s, x) for s, x in zip(inner(sig), t)])
    raise ValueError(sig)


def tag_gv(v):
    sig = v.get_type_string()
    c = sig[0]
    if c in 'xt':
        return str(v.unpack())
    if c in 'ybnqiuhdsogb':
        return v.unpack()
    if c == 'v':
        x = v.get_variant()
        return [x.get_type_string(), tag_gv(x)]
    if sig == 'ay':
        return bytes(v.unpack()).hex()
    if c == 'a' and sig[1] == '{':
        return [[tag_gv(e.get_child_value(0)), tag_gv(e.get_child_value(1))] for e in (v.get_child_value(i) for i in range(v.n_children()))]
    return [tag_gv(v.get_child_value(i)) for i in range(v.n_children())]


def gio_make():
    Gio, GLib = gi()
    out = []
    for i, (sig, body) in enumerate(CASES):
        for order in ('little', 'big'):
            h = header_for(i)
            m = Gio.DBusMessage.new()
            m.set_message_type(Gio.DBusMessageType(h['type']))
            if 'path' in h: m.set_path(h['path'])
            if 'interface' in h: m.set_interface(h['interface'])
            if 'member' in h: m.set_member(h['member'])
            if 'destination' in h: m.set_destination(h['destination'])
            if 'sender' in h: m.set_sender(h['sender'])
            if 'errorName' in h: m.set_error_name(h['errorName'])
            if 'replySerial' in h: m.set_reply_serial(h['replySerial'])
            if sig:
                m.set_body(GLib.Variant.new_tuple(*[build_gv(GLib, s, x) for s, x in zip(parse_sig(sig), body)]))
            m.set_serial(100 + i)
            m.set_byte_order(Gio.DBusMessageByteOrder.LITTLE_ENDIAN if order == 'little' else Gio.DBusMessageByteOrder.BIG_ENDIAN)
            blob = bytes(m.to_blob(Gio.DBusCapabilityFlags.UNIX_FD_PASSING))
            out.append({'case': i, 'endian': order, 'hex': blob.hex(), 'serial': 100 + i, 'header': h, 'signature': sig, 'body': body})
    print(json.dumps(out))


def gio_read():
    Gio, GLib = gi()
    out = []
    for hx in json.load(sys.stdin):
        m = Gio.DBusMessage.new_from_blob(bytes.fromhex(hx), Gio.DBusCapabilityFlags.UNIX_FD_PASSING)
        body = m.get_body()
        h = {'type': int(m.get_message_type()), 'flags': int(m.get_flags()), 'serial': m.get_serial(),
             'endian': 'little' if m.get_byte_order() == Gio.DBusMessageByteOrder.LITTLE_ENDIAN else 'big'}
        for key, get in (('path', m.get_path), ('interface', m.get_interface), ('member', m.get_member),
                         ('destination', m.get_destination), ('sender', m.get_sender), ('errorName', m.get_error_name)):
            if get() is not None: h[key] = get()
        if m.get_reply_serial(): h['replySerial'] = m.get_reply_serial()
        sig = m.get_signature() or ''
        out.append({'header': h, 'signature': sig, 'body': [tag_gv(body.get_child_value(i)) for i in range(body.n_children())] if body else []})
    print(json.dumps(out))


# ---- libdbus (python3-dbus) ----
def build_dp(dbus, sig, t, level=0):
    c = sig[0]
    kw = {'variant_level': level} if level else {}
    simple = {'y': dbus.Byte, 'b': dbus.Boolean, 'n': dbus.Int16, 'q': dbus.UInt16, 'i': dbus.Int32, 'u': dbus.UInt32,
              'd': dbus.Double, 's': dbus.String, 'o': dbus.ObjectPath, 'g': dbus.Signature}
    if c in simple:
        return simple[c](t, **kw)
    if c in 'xt':
        return (dbus.Int64 if c == 'x' else dbus.UInt64)(int(t), **kw)
    if c == 'v':
        return build_dp(dbus, t[0], t[1], level + 1)
    if sig == 'ay':
        return dbus.ByteArray(bytes.fromhex(t), **kw)
    if c == 'a':
        el = sig[1:]
        if el[0] == '{':
            k, v = inner(el)
            return dbus.Dictionary({build_dp(dbus, k, kv[0]): build_dp(dbus, v, kv[1]) for kv in t}, signature=k + v, **kw)
        return dbus.Array([build_dp(dbus, el, x) for x in t], signature=el, **kw)
    if c == '(':
        return dbus.Struct([build_dp(dbus, s, x) for s, x in zip(inner(sig), t)], signature=sig[1:-1], **kw)
    raise ValueError(sig)


def sig_of(dbus, v):
    simple = [(dbus.Boolean, 'b'), (dbus.Byte, 'y'), (dbus.Int16, 'n'), (dbus.UInt16, 'q'), (dbus.Int32, 'i'), (dbus.UInt32, 'u'),
              (dbus.Int64, 'x'), (dbus.UInt64, 't'), (dbus.Double, 'd'), (dbus.ObjectPath, 'o'), (dbus.Signature, 'g'),
              (dbus.String, 's'), (dbus.ByteArray, 'ay')]
    for cls, s in simple:
        if type(v) is cls:
            return s
    if isinstance(v, dbus.Dictionary):
        return 'a{%s}' % v.signature
    if isinstance(v, dbus.Array):
        return 'a' + v.signature
    if isinstance(v, dbus.Struct):
        return '(' + ''.join(sig_of(dbus, x) for x in v) + ')'
    raise ValueError(repr(v))


def tag_dp(dbus, sig, v, top=True):
    c = sig[0]
    if c == 'v':
        level = v.variant_level
        s = 'v' if level > 1 else sig_of(dbus, v)
        if level > 1:
            return ['v', tag_variant(dbus, v, level - 1)]
        return [s, tag_dp(dbus, s, v)]
    if c in 'xt':
        return str(int(v))
    if c in 'ynqiuh':
        return int(v)
    if c == 'b':
        return bool(v)
    if c == 'd':
        return float(v)
    if c in 'sog':
        return str(v)
    if sig == 'ay':
        return bytes(v).hex()
    if c == 'a':
        el = sig[1:]
        if el[0] == '{':
            k, vt = inner(el)
            return [[tag_dp(dbus, k, a), tag_dp(dbus, vt, b)] for a, b in v.items()]
        return [tag_dp(dbus, el, x) for x in v]
    return [tag_dp(dbus, s, x) for s, x in zip(inner(sig), v)]


def tag_variant(dbus, v, level):
    if level > 1:
        return ['v', tag_variant(dbus, v, level - 1)]
    s = sig_of(dbus, v)
    return [s, tag_dp(dbus, s, v)]


def libdbus(address):
    import dbus
    import dbus.connection
    import dbus.lowlevel as low
    conn = dbus.connection.Connection(address)
    sent = []
    for i, (sig, body) in enumerate(CASES):
        if i % 2 == 0:
            m = low.MethodCallMessage('org.example.Dest', '/org/example/Obj', 'org.example.Iface', 'Call%d' % i)
            m.set_no_reply(True)
        else:
            m = low.SignalMessage('/org/example/Obj', 'org.example.Iface', 'Changed')
        if sig:
            m.append(*[build_dp(dbus, s, x) for s, x in zip(parse_sig(sig), body)], signature=sig)
        conn.send_message(m)
        sent.append({'case': i})
    conn.flush()
    print(json.dumps({'sent': sent}), flush=True)
    # Read back: each Give(k) is answered by the test with its own encoding of reply k.
    n = int(sys.argv[3])
    for k in range(n):
        call = low.MethodCallMessage('org.example.Test', '/', 'org.example.Test', 'Give')
        call.append(dbus.UInt32(k), signature='u')
        try:
            reply = conn.send_message_with_reply_and_block(call, 20000)
            sig = reply.get_signature() or ''
            args = reply.get_args_list(byte_arrays=True)
            out = {'k': k, 'type': 2, 'signature': sig, 'body': [tag_dp(dbus, s, a) for s, a in zip(parse_sig(sig), args)]}
        except dbus.exceptions.DBusException as e:
            out = {'k': k, 'type': 3, 'errorName': e.get_dbus_name(), 'body': [str(a) for a in e.args]}
        print(json.dumps(out), flush=True)
    conn.close()


if __name__ == '__main__':
    mode = sys.argv[1]
    if mode == 'cases':
        print(json.dumps([{'signature': s, 'body': b} for s, b in CASES]))
    elif mode == 'gio-make':
        gio_make()
    elif mode == 'gio-read':
        gio_read()
    elif mode == 'libdbus':
        libdbus(sys.argv[2])
