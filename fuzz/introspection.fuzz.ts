// Fuzzer for the introspection XML parser (a parser of what a remote peer
// sends): mutated valid documents and random text go to parseIntrospection.
// Each must return a NodeInfo or throw IntrospectionError, nothing else; a
// document that parses must format and parse again to the same data.
import { isDeepStrictEqual } from 'node:util';
import { formatIntrospection, IntrospectionError, parseIntrospection } from '../src/client/introspection.js';
import { prng } from './wire.fuzz.js';

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

function mutate(doc: string, rnd: () => number): string {
  let s = doc;
  const edits = 1 + Math.floor(rnd() * 4);
  for (let k = 0; k < edits; k++) {
    const at = Math.floor(rnd() * (s.length + 1));
    const r = rnd();
    if (r < 0.35) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rnd() * 8));
    else if (r < 0.75) s = s.slice(0, at) + PIECES[Math.floor(rnd() * PIECES.length)] + s.slice(at);
    else if (r < 0.9) s = s.slice(0, at) + String.fromCharCode(Math.floor(rnd() * 128)) + s.slice(at + 1);
    else s = s.slice(0, at);
  }
  return s;
}

/** Runs `iterations` cases from `seed`; returns the failures (empty when all held). */
export function fuzzIntrospection(iterations: number, seed: number): Array<{ input: string; problem: string }> {
  const rnd = prng(seed);
  const docs = introspectionCorpus();
  const failures: Array<{ input: string; problem: string }> = [];
  for (let i = 0; i < iterations && failures.length < 10; i++) {
    const input = rnd() < 0.05
      ? Array.from({ length: Math.floor(rnd() * 64) }, () => PIECES[Math.floor(rnd() * PIECES.length)]).join('')
      : mutate(docs[Math.floor(rnd() * docs.length)], rnd);
    let node;
    try {
      node = parseIntrospection(input);
    } catch (e) {
      if (!(e instanceof IntrospectionError)) failures.push({ input: JSON.stringify(input), problem: `threw ${(e as Error)?.name}: ${(e as Error)?.message}` });
      continue;
    }
    try {
      const again = parseIntrospection(formatIntrospection(node));
      if (!isDeepStrictEqual(again, node)) failures.push({ input: JSON.stringify(input), problem: 'format then parse gave different data' });
    } catch (e) {
      failures.push({ input: JSON.stringify(input), problem: `its formatted form did not parse: ${(e as Error).message}` });
    }
  }
  return failures;
}
