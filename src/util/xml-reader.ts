// One XML reader for the XML fastbus reads from outside (bus configuration
// files, introspection data from remote peers): XML 1.0 well-formedness as
// expat checks it for dbus-daemon, without namespaces, validation or anything
// loaded from outside. Returns the tree of elements with their text. The
// DOCTYPE is read by xml-dtd.ts; entity expansion and nesting are bounded.
import { XmlCursor, isXmlChar, lazyRegExp, NAME_SOURCE } from './xml-cursor.js';
import { readDoctype, type XmlDoctype, type XmlEntity } from './xml-dtd.js';
import { XmlError } from './xml-error.js';

export { XmlError };

/** An element: its attributes (values with references replaced), children in order and own text. */
export interface XmlElement {
  name: string;
  /** Attribute values by name (a prototype-less object). */
  attributes: Record<string, string>;
  children: XmlElement[];
  /** The element's character data (text and CDATA between its own tags, children's excluded). */
  text: string;
  /** Where its start tag is in the document (from 1). */
  line: number;
  column: number;
}

/** Bounds on what a document may make the reader do. */
export interface XmlReadOptions {
  /** Most characters that entity references may expand to, in all (default XML_MAX_ENTITY_EXPANSION). */
  maxEntityExpansion?: number;
  /** Deepest element nesting (default XML_MAX_DEPTH). */
  maxDepth?: number;
}

/** Default bound on characters produced by entity expansion in one document. */
export const XML_MAX_ENTITY_EXPANSION = 1 << 20;
/** Default bound on element nesting. */
export const XML_MAX_DEPTH = 256;
/** Entity references nested in entities (each one open at most once, so this also bounds recursion). */
const MAX_ENTITY_NESTING = 32;

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const BAD_CHAR = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const XML_DECL = /<\?xml[ \t\n\r]+version[ \t\n\r]*=[ \t\n\r]*(?:"[A-Za-z0-9_.-]*"|'[A-Za-z0-9_.-]*')(?:[ \t\n\r]+encoding[ \t\n\r]*=[ \t\n\r]*(?:"([A-Za-z][A-Za-z0-9._-]*)"|'([A-Za-z][A-Za-z0-9._-]*)'))?(?:[ \t\n\r]+standalone[ \t\n\r]*=[ \t\n\r]*(?:"(yes|no)"|'(yes|no)'))?[ \t\n\r]*\?>/y;
const REFERENCE = lazyRegExp(`&(?:#x([0-9a-fA-F]+)|#([0-9]+)|(${NAME_SOURCE}));`, 'vy');
const MARKUP = /[<&]/g;
const ATTR_SPECIAL = /[<&\t\n\r]/;

class XmlReader extends XmlCursor {
  private readonly stack: XmlElement[] = [];
  private doctype: XmlDoctype = { entities: new Map(), externalSubset: false };
  private standalone = false;
  private expanded = 0;
  private nesting = 0;
  private readonly maxExpansion: number;
  private readonly maxDepth: number;

  constructor(doc: string, options: XmlReadOptions) {
    super(doc);
    this.maxExpansion = options.maxEntityExpansion ?? XML_MAX_ENTITY_EXPANSION;
    this.maxDepth = options.maxDepth ?? XML_MAX_DEPTH;
  }

  read(): XmlElement {
    const s = this.src;
    const bad = BAD_CHAR.exec(s);
    if (bad) this.fail(`character U+${s.codePointAt(bad.index)!.toString(16).toUpperCase().padStart(4, '0')} is not allowed in XML`, bad.index);
    if (/^<\?xml[ \t\n\r?]/.test(s)) {
      XML_DECL.lastIndex = 0;
      const m = XML_DECL.exec(s);
      if (!m) this.fail('malformed XML declaration');
      const encoding = m[1] ?? m[2];
      if (encoding !== undefined && !/^(utf-8|us-ascii)$/i.test(encoding)) this.fail(`encoding ${encoding} is not supported (documents are read as UTF-8)`, 0);
      this.standalone = (m[3] ?? m[4]) === 'yes';
      this.i = XML_DECL.lastIndex;
    }
    let root: XmlElement | undefined;
    let seenDoctype = false;
    for (;;) {
      this.skipSpace();
      if (this.i >= s.length) break;
      if (s.startsWith('<!--', this.i)) this.skipComment();
      else if (s.startsWith('<?', this.i)) this.skipProcessingInstruction();
      else if (s.startsWith('<!DOCTYPE', this.i)) {
        if (seenDoctype || root) this.fail('a DOCTYPE is only allowed once, before the root element');
        seenDoctype = true;
        this.doctype = readDoctype(this);
      } else if (s[this.i] === '<' && s[this.i + 1] !== '!' && s[this.i + 1] !== '/') {
        if (root) this.fail('more than one root element');
        root = this.startTag();
        if (this.stack.length > 0) this.content(0);
        if (this.stack.length > 0) this.fail(`<${this.stack[this.stack.length - 1].name}> is not closed`, s.length);
      } else this.fail(root ? 'text or markup after the root element' : 'text or markup outside the root element');
    }
    if (!root) this.fail('no root element');
    return root;
  }

  /** Content of elements down to `floor` open elements (0 in the document; more inside an entity). */
  private content(floor: number): void {
    const s = this.src;
    while (this.i < s.length) {
      MARKUP.lastIndex = this.i;
      const j = MARKUP.exec(s)?.index ?? s.length;
      if (j > this.i) this.text(this.i, j);
      this.i = j;
      if (j >= s.length) return;
      if (s.charCodeAt(j) === 0x26) this.contentReference();
      else if (s.charCodeAt(j + 1) === 0x2f) {
        this.endTag(floor);
        if (this.stack.length === 0) return;
      } else if (s.startsWith('<!--', j)) this.skipComment();
      else if (s.startsWith('<![CDATA[', j)) {
        const end = s.indexOf(']]>', j + 9);
        if (end < 0) this.fail('unterminated CDATA section');
        this.stack[this.stack.length - 1].text += s.slice(j + 9, end);
        this.i = end + 3;
      } else if (s.startsWith('<?', j)) this.skipProcessingInstruction();
      else if (s.charCodeAt(j + 1) === 0x21) this.fail('markup declarations are only allowed in the DOCTYPE');
      else this.startTag();
    }
  }

  private text(from: number, to: number): void {
    const chunk = this.src.slice(from, to);
    const cdataEnd = chunk.indexOf(']]>');
    if (cdataEnd >= 0) this.fail("']]>' is not allowed in text", from + cdataEnd);
    this.stack[this.stack.length - 1].text += chunk;
  }

  /** Reads a start tag at `this.i`; the element is pushed unless it is empty-element (`<x/>`). */
  private startTag(): XmlElement {
    const at = this.i;
    this.i++;
    const name = this.name('an element name');
    const { line, column } = this.position(this.docIndex(at));
    const el: XmlElement = { name, attributes: Object.create(null) as Record<string, string>, children: [], text: '', line, column };
    if (this.stack.length > 0) this.stack[this.stack.length - 1].children.push(el);
    const s = this.src;
    for (;;) {
      const spaced = this.skipSpace();
      const c = s.charCodeAt(this.i);
      if (c === 0x2f) {
        this.expect('/>');
        return el;
      }
      if (c === 0x3e) {
        this.i++;
        if (this.stack.length >= this.maxDepth) this.fail(`elements nest deeper than ${this.maxDepth}`, at);
        this.stack.push(el);
        return el;
      }
      if (this.i >= s.length) this.fail(`unterminated <${name}>`, at);
      if (!spaced) this.fail(`expected white space before an attribute in <${name}>`);
      const key = this.name('an attribute name');
      this.skipSpace();
      if (s.charCodeAt(this.i) !== 0x3d) this.fail(`attribute '${key}' of <${name}> has no value`);
      this.i++;
      this.skipSpace();
      const q = s[this.i];
      if (q !== '"' && q !== "'") this.fail(`attribute '${key}' of <${name}> has an unquoted value`);
      const end = s.indexOf(q, this.i + 1);
      if (end < 0) this.fail(`attribute '${key}' of <${name}> has no closing quote`);
      if (key in el.attributes) this.fail(`attribute '${key}' repeated in <${name}>`);
      el.attributes[key] = this.attributeValue(this.i + 1, end);
      this.i = end + 1;
    }
  }

  private endTag(floor: number): void {
    const at = this.i;
    this.i += 2;
    const name = this.name('an element name after </');
    this.skipSpace();
    if (this.src.charCodeAt(this.i) !== 0x3e) this.fail(`expected '>' after '</${name}'`);
    this.i++;
    if (this.stack.length <= floor) {
      this.fail(floor > 0 ? `</${name}> closes an element opened outside its entity` : `</${name}> has no opening tag`, at);
    }
    const open = this.stack.pop()!;
    if (open.name !== name) this.fail(`</${name}> closes <${open.name}>`, at);
  }

  /** A reference at `this.i`: the text it stands for, or an entity to expand, or undefined when it is skipped. */
  private reference(inAttribute: boolean): string | XmlEntity | undefined {
    const reference = REFERENCE();
    reference.lastIndex = this.i;
    const m = reference.exec(this.src);
    if (!m) this.fail("'&' is not the start of a reference (write &amp;)");
    const at = this.i;
    this.i = reference.lastIndex;
    if (m[3] === undefined) {
      const code = m[1] !== undefined ? parseInt(m[1], 16) : Number(m[2]);
      if (!isXmlChar(code)) this.fail(`reference to invalid character number ${m[0]}`, at);
      return String.fromCodePoint(code);
    }
    const predefined = PREDEFINED[m[3]];
    if (predefined !== undefined) return predefined;
    const entity = this.doctype.entities.get(m[3]);
    if (entity === undefined) {
      // As expat: an undeclared entity is an error unless an external subset (never read) may declare it.
      if (this.doctype.externalSubset && !this.standalone) return undefined;
      this.fail(`unknown entity ${m[0]} (not declared)`, at);
    }
    if (entity.unparsed) this.fail(`reference to unparsed entity ${m[0]}`, at);
    if (entity.value === undefined) {
      if (inAttribute) this.fail(`reference to external entity ${m[0]} in an attribute value`, at);
      return undefined; // external entities are never loaded: skipped, as expat does without a loader
    }
    if (entity.open) this.fail(`recursive entity reference ${m[0]}`, at);
    this.expanded += entity.value.length;
    if (this.expanded > this.maxExpansion) this.fail(`entity expansion exceeds ${this.maxExpansion} characters`, at);
    if (this.nesting >= MAX_ENTITY_NESTING) this.fail(`entity references nest deeper than ${MAX_ENTITY_NESTING}`, at);
    return entity;
  }

  /** Runs `body` over an entity's replacement text, then returns to where the reference was. */
  private expand<T>(entity: XmlEntity, at: number, body: () => T): T {
    const { src, i, refAt } = this;
    if (refAt < 0) this.refAt = at;
    this.src = entity.value!;
    this.i = 0;
    entity.open = true;
    this.nesting++;
    try {
      return body();
    } finally {
      entity.open = false;
      this.nesting--;
      this.src = src;
      this.i = i;
      this.refAt = refAt;
    }
  }

  private contentReference(): void {
    const at = this.i;
    const r = this.reference(false);
    if (typeof r === 'string') this.stack[this.stack.length - 1].text += r;
    else if (r !== undefined) {
      const depth = this.stack.length;
      this.expand(r, at, () => {
        this.content(depth);
        if (this.stack.length !== depth) this.fail(`<${this.stack[this.stack.length - 1].name}> is not closed inside its entity`);
      });
    }
  }

  /** An attribute value between `from` and `to` in `src`: references replaced, each white space character a space. */
  private attributeValue(from: number, to: number): string {
    const raw = this.src.slice(from, to);
    if (!ATTR_SPECIAL.test(raw)) return raw;
    let out = '';
    for (this.i = from; this.i < to;) {
      const c = this.src[this.i];
      if (c === '<') this.fail("'<' is not allowed in an attribute value");
      if (c === '\t' || c === '\n' || c === '\r') {
        out += ' ';
        this.i++;
      } else if (c === '&') {
        const at = this.i;
        const r = this.reference(true);
        if (typeof r === 'string') out += r;
        else if (r !== undefined) out += this.expand(r, at, () => this.attributeValue(0, r.value!.length));
      } else {
        out += c;
        this.i++;
      }
    }
    return out;
  }
}

/**
 * Reads an XML document and returns its root element; throws XmlError with
 * the line and column of the first fault (for a fault inside an entity's
 * replacement text, of the reference to it).
 */
export function readXml(text: string, options: XmlReadOptions = {}): XmlElement {
  let doc = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (doc.includes('\r')) doc = doc.replace(/\r\n?/g, '\n');
  return new XmlReader(doc, options).read();
}
