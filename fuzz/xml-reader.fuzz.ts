// Fuzzer for the XML reader (util/xml-reader.ts: bus configuration files and
// introspection data from remote peers): mutated valid documents and random
// strings of XML pieces go to readXml. Each must return a tree or throw
// XmlError, nothing else; a tree must format and read again to the same tree.
import { readXml, XmlError, type XmlElement } from '../src/util/xml-reader.js';
import { introspectionCorpus } from './introspection.fuzz.js';
import { fuzzTextParser, type TextParserFuzz } from './text-fuzz.js';
import type { FuzzFailure } from './wire.fuzz.js';

/** An element without positions, attributes in name order: what two readings of one document share. */
export interface PlainElement { name: string; attributes: Record<string, string>; text: string; children: PlainElement[] }

/** The tree of `el` without positions. */
export function plain(el: XmlElement): PlainElement {
  const attributes: Record<string, string> = {};
  for (const k of Object.keys(el.attributes).sort()) attributes[k] = el.attributes[k];
  return { name: el.name, attributes, text: el.text, children: el.children.map(plain) };
}

const ESCAPES: Record<string, string> = { '<': '&lt;', '&': '&amp;', '>': '&gt;', '"': '&quot;', '\t': '&#9;', '\n': '&#10;', '\r': '&#13;' };

/** XML that reads as `el` (its text first, then its children). */
export function formatPlain(el: PlainElement): string {
  const attrs = Object.entries(el.attributes).map(([k, v]) => ` ${k}="${v.replace(/[<&>"\t\n\r]/g, (c) => ESCAPES[c])}"`).join('');
  return `<${el.name}${attrs}>${el.text.replace(/[<&>\r]/g, (c) => ESCAPES[c])}${el.children.map(formatPlain).join('')}</${el.name}>`;
}

/** Valid documents: introspection data, a bus configuration, and DOCTYPEs with entities, CDATA and PIs. */
export function xmlCorpus(): string[] {
  return [
    ...introspectionCorpus(),
    `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>\r\n  <auth>EXTERNAL</auth>
  <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow own="*"/></policy>
  <include ignore_missing="yes">session-local.conf</include>
  <limit name="max_names_per_connection">50000</limit>
</busconfig>`,
    `<?xml version='1.0' standalone='yes'?>
<!DOCTYPE a [
  <!-- entities -->
  <!ENTITY e "x&#60;b y='1'/>z">
  <!ENTITY t 'tab&#9;and &amp; space'>
  <!ENTITY f "&t;|&t;">
  <!ENTITY ext SYSTEM "file:///etc/passwd">
  <!ELEMENT a ANY>
  <!NOTATION n PUBLIC "-//n//EN">
  <?pi in the subset?>
]>
<a k="&f;" l='&#x10FFFF;&apos;"'>&e;&f;&ext;<![CDATA[<&>]]><?pi data?>&#x41;&#66;<b/></a>`,
    '<!DOCTYPE a SYSTEM "a.dtd"><a x="&undeclared;">&undeclared;</a>',
    '<a:b xmlns:a="urn:x" a:c="1">\n  <c:d/>\r\n</a:b>',
  ];
}

const PIECES = [
  '<', '>', '/>', '</a>', '<a>', '<b x="1">', '</b>', '"', "'", '&', '&amp;', '&lt;', '&#', '&#x', ';', '=', ' ', '\n', '\r', '\r\n', '\t',
  '<!--', '-->', '--', '<?', '?>', '<?xml version="1.0"?>', '<![CDATA[', ']]>', ']', '<!DOCTYPE a [', '<!DOCTYPE a SYSTEM "x">', ']>',
  '<!ENTITY e "', '<!ENTITY e SYSTEM "s">', '<!ENTITY e "&e;">', '<!ENTITY % p "x">', '%p;', '&e;', '&f;', '&ext;', 'NDATA n',
  '<!ELEMENT a ANY>', '<!ATTLIST a b CDATA #IMPLIED>', '<!ATTLIST a b CDATA "d">', '<!NOTATION n SYSTEM "n">',
  '&#0;', '&#x10FFFF;', '&#xD800;', '&#65;', '\0', '\u00e9', '\uFEFF', '\uD800', '\uFFFE', '😀', 'standalone="yes"', 'x', ':',
];

/** The reader as the fuzz loop wants it: text in, a plain tree out. */
export const xmlReaderFuzz: TextParserFuzz<PlainElement> = {
  corpus: xmlCorpus(), pieces: PIECES, maxPieces: 48, insertBelow: 0.75, replaceBelow: 0.9,
  parse: (text) => plain(readXml(text)), format: formatPlain, error: XmlError,
};

/** Runs `iterations` cases from `seed`; returns the failures (empty when all held). */
export function fuzzXmlReader(iterations: number, seed: number): FuzzFailure[] {
  return fuzzTextParser(xmlReaderFuzz, iterations, seed);
}
