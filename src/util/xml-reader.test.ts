import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readXml, XmlError } from './xml-reader.js';

function fails(xml: string, reason: RegExp, line?: number, column?: number): void {
  assert.throws(() => readXml(xml), (e: unknown) => {
    assert.ok(e instanceof XmlError, `not an XmlError: ${String(e)}`);
    assert.match(e.reason, reason);
    if (line !== undefined) assert.equal(e.line, line, e.message);
    if (column !== undefined) assert.equal(e.column, column, e.message);
    return true;
  });
}

describe('XML reader', () => {
  it('reads elements, attributes, text and CDATA, and skips the prolog, comments, PIs and an external DOCTYPE', () => {
    const root = readXml(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN" "http://x/introspect.dtd">
<!-- before --><?pi before?>
<node name='/a'>t1<![CDATA[<&>]]><child a="1" b='2'/><?pi inside?><!-- c -->t2</node>
<!-- after -->`);
    assert.equal(root.name, 'node');
    assert.equal(root.attributes.name, '/a');
    assert.equal(root.text, 't1<&>t2');
    assert.deepEqual(root.children.map((c) => [c.name, { ...c.attributes }, c.line, c.column]), [['child', { a: '1', b: '2' }, 4, 34]]);
    assert.equal(Object.getPrototypeOf(root.attributes), null, 'attribute names like __proto__ cannot reach a prototype');
  });

  it('reads names past ASCII as XML 1.0 Appendix B does: letters start them, marks and U+00B7 continue them', () => {
    const root = readXml('<aé b\u00B7c="1" _\u0300="2"><\u00E9t\u00E9/></aé>');
    assert.equal(root.name, 'aé');
    assert.deepEqual({ ...root.attributes }, { 'b\u00B7c': '1', '_\u0300': '2' });
    assert.equal(root.children[0].name, '\u00E9t\u00E9');
    // U+00D7 (×) is no letter: the name ends before it, as it would after ASCII.
    fails('<a\u00D7/>', /./);
    fails('<\u00D7/>', /expected/);
    fails('<\uF900/>', /expected/);
  });

  it('replaces the five predefined entities and character references, and refuses bad ones', () => {
    assert.equal(readXml('<a>&lt;&gt;&amp;&quot;&apos;&#65;&#x1F600;</a>').text, '<>&"\'A😀');
    fails('<a>&#0;</a>', /invalid character number/, 1, 4);
    fails('<a>&#xD800;</a>', /invalid character number/);
    fails('<a>a & b</a>', /not the start of a reference/);
    fails('<a>&nope;</a>', /unknown entity &nope;/);
    fails('<a>\u0001</a>', /U\+0001 is not allowed/);
    fails('<a>]]></a>', /']]>' is not allowed/);
  });

  it('turns white space in attribute values into spaces (not when written as references) and line ends into \\n', () => {
    const a = readXml('<a v="x\r\ny\tz&#10;w"> 1\r\n2\r3</a>');
    assert.equal(a.attributes.v, 'x y z\nw');
    assert.equal(a.text, ' 1\n2\n3');
  });

  it('expands internal entities in text (markup included) and in attributes, and skips external ones in text', () => {
    const a = readXml(`<!DOCTYPE a [
      <!ENTITY b "<b k='&#38;amp;'/>">
      <!ENTITY t "x&#9;y">
      <!ENTITY tt "&t;&t;">
      <!ENTITY ext SYSTEM "file:///etc/passwd">
    ]><a v="&tt;">&b;&tt;&ext;</a>`);
    assert.equal(a.attributes.v, 'x yx y');
    assert.equal(a.text, 'x\tyx\ty');
    assert.deepEqual(a.children.map((c) => [c.name, c.attributes.k]), [['b', '&']]);
    fails('<!DOCTYPE a [<!ENTITY ext SYSTEM "f">]><a v="&ext;"/>', /external entity &ext; in an attribute/);
    fails('<!DOCTYPE a [<!ENTITY l "<">]><a v="&l;"/>', /'<' is not allowed in an attribute/);
    fails('<!DOCTYPE a [<!ENTITY o "<b>">]><a>&o;</b></a>', /not closed inside its entity/);
  });

  it('skips an undeclared entity only where an external subset could declare it, as expat does', () => {
    assert.equal(readXml('<!DOCTYPE a SYSTEM "a.dtd"><a v="&u;">x&u;y</a>').text, 'xy');
    fails('<?xml version="1.0" standalone="yes"?><!DOCTYPE a SYSTEM "a.dtd"><a>&u;</a>', /unknown entity &u;/);
    fails('<!DOCTYPE a [<!ENTITY x "1">]><a>&u;</a>', /unknown entity &u;/);
  });

  it('refuses a recursive entity at the line and column of the reference', () => {
    fails('<!DOCTYPE a [<!ENTITY x "&y;"><!ENTITY y "&x;">]>\n<a>\n  &x;</a>', /recursive entity reference/, 3, 3);
  });

  it('bounds what entities expand to (a billion laughs stops at the bound)', () => {
    let dtd = '<!ENTITY l0 "ha">';
    for (let k = 1; k <= 20; k++) dtd += `<!ENTITY l${k} "${`&l${k - 1};`.repeat(10)}">`;
    fails(`<!DOCTYPE a [${dtd}]><a>&l20;</a>`, /entity expansion exceeds 1048576 characters/, 1);
    fails(`<!DOCTYPE a [${dtd}]><a v="&l20;"/>`, /entity expansion exceeds/);
    assert.throws(() => readXml(`<!DOCTYPE a [${dtd}]><a>&l3;</a>`, { maxEntityExpansion: 100 }), /exceeds 100 characters/);
    assert.equal(readXml(`<!DOCTYPE a [${dtd}]><a>&l3;</a>`).text.length, 2000);
  });

  it('refuses parameter entities and <!ATTLIST> defaults by name, and checks other declarations', () => {
    fails('<!DOCTYPE a [<!ENTITY % p "x"> %p;]><a/>', /parameter entity references are not supported/);
    fails('<!DOCTYPE a [<!ATTLIST a b CDATA "d">]><a/>', /default attribute values in <!ATTLIST> are not supported/);
    assert.equal(readXml('<!DOCTYPE a [<!ATTLIST a b CDATA #IMPLIED><!ELEMENT a (b|c)*><!NOTATION n SYSTEM "n">]><a/>').name, 'a');
    fails('<!DOCTYPE a [<!ELEMENT a>]><a/>', /bad <!ELEMENT> declaration/);
  });

  it('bounds element nesting', () => {
    assert.equal(readXml('<a>'.repeat(256) + '</a>'.repeat(256)).name, 'a');
    fails('<a>'.repeat(257) + '</a>'.repeat(257), /nest deeper than 256/);
  });

  it('names the line and column of structural faults', () => {
    fails('<a>\n  <b></a>', /<\/a> closes <b>/, 2, 6);
    fails('<a>', /<a> is not closed/);
    fails('', /no root element/);
    fails('<a/><b/>', /more than one root element/);
    fails('<a/>x', /text or markup after the root element/);
    fails(' <?xml version="1.0"?><a/>', /XML declaration is only allowed at the very start/);
    fails('<a b="1" b="2"/>', /attribute 'b' repeated/);
    fails('<a b=1/>', /unquoted value/);
    fails('<a><!-- x -- y --></a>', /'--' inside a comment/);
    fails('<?xml version="1.0" encoding="ISO-8859-1"?><a/>', /encoding ISO-8859-1 is not supported/);
  });
});
