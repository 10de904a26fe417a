import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIntrospection, IntrospectionError, methodSignatures, parseIntrospection } from './introspection.js';

const SAMPLE = `<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"
"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">
<!-- a comment -->
<node name="/com/example/Sample">
  <interface name="com.example.SampleInterface0">
    <method name="Frobate">
      <arg name="foo" type="i" direction="in"/>
      <arg name="bar" type="s" direction="out"/>
      <arg name="baz" type="a{us}" direction="out"/>
      <annotation name="org.freedesktop.DBus.Deprecated" value="true"/>
    </method>
    <method name="Bazify"><arg name="bar" type="(iiu)"/><arg type="v" direction="out"/></method>
    <signal name="Changed"><arg name="new_value" type="b"/></signal>
    <property name="Bar" type="y" access="readwrite"/>
    <property name="Label" type="s" access="read"><annotation name="x.y" value="a &amp; &lt;b&gt; &#65;"/></property>
  </interface>
  <node name="child_of_sample_object"/>
  <node name="another_child_of_sample_object"/>
</node>`;

test('parses the specification example: methods, args with directions, signals, properties, annotations, children', () => {
  const n = parseIntrospection(SAMPLE);
  assert.equal(n.name, '/com/example/Sample');
  assert.equal(n.interfaces.length, 1);
  const i = n.interfaces[0];
  assert.equal(i.name, 'com.example.SampleInterface0');
  assert.deepEqual(i.methods[0].args, [
    { name: 'foo', type: 'i', direction: 'in' },
    { name: 'bar', type: 's', direction: 'out' },
    { name: 'baz', type: 'a{us}', direction: 'out' },
  ]);
  assert.deepEqual(methodSignatures(i.methods[0]), { in: 'i', out: 'sa{us}' });
  assert.deepEqual(methodSignatures(i.methods[1]), { in: '(iiu)', out: 'v' });
  assert.equal(i.methods[0].annotations['org.freedesktop.DBus.Deprecated'], 'true');
  assert.deepEqual(i.signals[0], { name: 'Changed', args: [{ name: 'new_value', type: 'b' }], annotations: {} });
  assert.deepEqual(i.properties.map((p) => [p.name, p.type, p.access]), [['Bar', 'y', 'readwrite'], ['Label', 's', 'read']]);
  assert.equal(i.properties[1].annotations['x.y'], 'a & <b> A');
  assert.deepEqual(n.nodes.map((c) => c.name), ['child_of_sample_object', 'another_child_of_sample_object']);
});

test('formats what it parses so that parsing again gives the same data', () => {
  const n = parseIntrospection(SAMPLE);
  const xml = formatIntrospection(n);
  assert.match(xml, /^<!DOCTYPE node/);
  assert.deepEqual(parseIntrospection(xml), n);
});

test('rejects malformed XML with the line of the fault', () => {
  assert.throws(() => parseIntrospection('<node>\n<interface name="a.b">\n</node>'), (e: unknown) => e instanceof IntrospectionError && /line 3/.test(e.message) && /closes <interface>/.test(e.message));
  assert.throws(() => parseIntrospection('<node><interface/></node>'), /no 'name' attribute/);
  assert.throws(() => parseIntrospection('<node><interface name="a.b"><property name="P" type="s" access="rw"/></interface></node>'), /access 'rw'/);
  assert.throws(() => parseIntrospection('<node>'), /not closed/);
  assert.throws(() => parseIntrospection(''), /no root element/);
  assert.throws(() => parseIntrospection('<node/><node/>'), /more than one root/);
  assert.throws(() => parseIntrospection('<node a=b/>'), /unquoted/);
  assert.throws(() => parseIntrospection('<node name="&bogus;"/>'), /unknown entity/);
  assert.throws(() => parseIntrospection('<interface name="a.b"/>'), /expected <node>/);
});
