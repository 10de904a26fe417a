// Fuzzer for the introspection XML parser (a parser of what a remote peer
// sends): mutated valid documents and random text go to parseIntrospection.
// Each must return a NodeInfo or throw IntrospectionError, nothing else; a
// document that parses must format and parse again to the same data.
import { formatIntrospection, IntrospectionError, parseIntrospection } from '../src/client/introspection.js';
import { fuzzTextParser } from './text-fuzz.js';
import type { FuzzFailure } from './wire.fuzz.js';

/** Valid documents: the shapes services send (gdbus, sd-bus, dbus-python, fastbus). */
export function introspectionCorpus(): string[] {
  return [
    `<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">
<node name="/com/example/Sample">
  <interface name="com.example.Sample">
    <method name="Frobate"><arg name="foo" type="i" direction="in"/><arg name="bar" type="a{us}" direction="out"/>
      <annotation name="org.freedesktop.DBus.Deprecated" value="true"/></method>
    <signal name="Changed"><arg name="v" type="b"/></signal>
    <property name="Bar" type="y" access="readwrite"><annotation name="a.b" value="&lt;&amp;&gt; &#65;&#x42;"/></property>
  </interface>
  <node name="child"/>
</node>`,
    `<?xml version="1.0"?><!-- comment --><node><interface name='a.b'><method name='M'/></interface><node name='x'><interface name='c.d'/></node></node>`,
    '<node/>',
  ];
}

const PIECES = ['<', '>', '/>', '</node>', '<node>', '"', "'", '&', '&amp;', '&#', ';', '=', ' ', '\n', '<!--', '-->', '<?', '?>', '<![CDATA[', ']]>', '<!DOCTYPE x [', ']>', 'name=', 'type="', 'access="read"', 'direction="out"', '\0', '\u00e9', '<interface name="x.y">', '<arg type="s"/>'];

/** Runs `iterations` cases from `seed`; returns the failures (empty when all held). */
export function fuzzIntrospection(iterations: number, seed: number): FuzzFailure[] {
  return fuzzTextParser({
    corpus: introspectionCorpus(), pieces: PIECES, maxPieces: 64, insertBelow: 0.75, replaceBelow: 0.9,
    parse: parseIntrospection, format: formatIntrospection, error: IntrospectionError,
  }, iterations, seed);
}
