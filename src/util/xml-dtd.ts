// The document type declaration (XML 1.0 section 2.8) as expat reads it for
// dbus-daemon, which neither validates nor loads anything external: the
// internal subset's general entities are kept (internal ones expand, external
// ones are never fetched), element and notation declarations are checked and
// dropped. Refused, with an XmlError: parameter entity references and
// <!ATTLIST> default values (expat would add such attributes; we do not).
import { XmlCursor, isXmlChar, lazyRegExp, NAME_SOURCE } from './xml-cursor.js';

/** A general entity declared in the internal subset. */
export interface XmlEntity {
  /** The replacement text of an internal entity (character references already replaced); undefined for an external one. */
  value: string | undefined;
  /** Declared with NDATA: may not be referred to at all. */
  unparsed: boolean;
  /** Set while it is being expanded: a reference to it then is recursive. */
  open: boolean;
}

/** What the DOCTYPE declared that matters to the rest of the document. */
export interface XmlDoctype {
  entities: Map<string, XmlEntity>;
  /** It names an external subset (never loaded), so undeclared entities may be declared there. */
  externalSubset: boolean;
}

const PREDEFINED = new Set(['lt', 'gt', 'amp', 'quot', 'apos']);
const PUBID = /^[ \r\na-zA-Z0-9\-'()+,./:=?;!*#@$_%]*$/;
const ELEMENT_DECL = lazyRegExp(`<!ELEMENT[ \\t\\n\\r]+${NAME_SOURCE}[ \\t\\n\\r]+(?:EMPTY|ANY|\\([^<>%"']*\\)[?*+]?)[ \\t\\n\\r]*>`, 'vy');
/** One attribute definition of an <!ATTLIST>, up to its default (a quote there is a default value). */
const ATT_DEF = lazyRegExp(`[ \\t\\n\\r]+${NAME_SOURCE}[ \\t\\n\\r]+(?:CDATA|IDREFS|IDREF|ID|ENTITY|ENTITIES|NMTOKENS|NMTOKEN|NOTATION[ \\t\\n\\r]+\\([^\\(\\)<>%"']*\\)|\\([^\\(\\)<>%"']*\\))[ \\t\\n\\r]+(?:#REQUIRED|#IMPLIED|#FIXED[ \\t\\n\\r]+["']|["'])`, 'vy');
const CHAR_REF = /&#(?:x([0-9a-fA-F]+)|([0-9]+));/y;
const GENERAL_REF = /&[^ \t\n\r&;%<>"']+;/y;

function space(cur: XmlCursor, where: string): void {
  if (!cur.skipSpace()) cur.fail(`expected white space ${where}`);
}

/** Reads an ExternalID (or, for a notation, a PUBLIC id alone); false when there is none. */
function externalId(cur: XmlCursor, publicAlone = false): boolean {
  if (cur.src.startsWith('SYSTEM', cur.i)) {
    cur.i += 6;
    space(cur, 'after SYSTEM');
    cur.quoted('a system identifier');
    return true;
  }
  if (!cur.src.startsWith('PUBLIC', cur.i)) return false;
  cur.i += 6;
  space(cur, 'after PUBLIC');
  const at = cur.i;
  if (!PUBID.test(cur.quoted('a public identifier'))) cur.fail('bad character in a public identifier', at);
  const spaced = cur.skipSpace();
  const q = cur.src[cur.i];
  if (publicAlone && (!spaced || (q !== '"' && q !== "'"))) return true;
  if (!spaced) cur.fail('expected white space before the system identifier');
  cur.quoted('a system identifier');
  return true;
}

/** Reads an entity value: character references are replaced now, entity references are kept for expansion. */
function entityValue(cur: XmlCursor): string {
  const q = cur.src[cur.i];
  const start = ++cur.i;
  let out = '';
  let from = start;
  for (;;) {
    const c = cur.src[cur.i];
    if (c === undefined) cur.fail('an entity value has no closing quote', start - 1);
    if (c === q) break;
    if (c === '%') cur.fail('parameter entity references are not supported');
    if (c !== '&') {
      cur.i++;
      continue;
    }
    CHAR_REF.lastIndex = cur.i;
    const m = CHAR_REF.exec(cur.src);
    if (m) {
      const code = m[1] !== undefined ? parseInt(m[1], 16) : Number(m[2]);
      if (!isXmlChar(code)) cur.fail(`reference to invalid character number ${m[0]}`);
      out += cur.src.slice(from, cur.i) + String.fromCodePoint(code);
      cur.i = from = CHAR_REF.lastIndex;
      continue;
    }
    GENERAL_REF.lastIndex = cur.i;
    if (!GENERAL_REF.test(cur.src)) cur.fail("'&' in an entity value is not a reference");
    cur.i = GENERAL_REF.lastIndex;
  }
  out += cur.src.slice(from, cur.i);
  cur.i++;
  return out;
}

function entityDecl(cur: XmlCursor, entities: Map<string, XmlEntity>): void {
  cur.i += 8;
  space(cur, 'after <!ENTITY');
  let parameter = false;
  if (cur.src[cur.i] === '%') {
    cur.i++;
    space(cur, "after '%'");
    parameter = true;
  }
  const name = cur.name('an entity name');
  space(cur, 'after the entity name');
  const entity: XmlEntity = { value: undefined, unparsed: false, open: false };
  const q = cur.src[cur.i];
  if (q === '"' || q === "'") entity.value = entityValue(cur);
  else {
    if (!externalId(cur)) cur.fail('expected an entity value, SYSTEM or PUBLIC');
    if (cur.skipSpace() && !parameter && cur.src.startsWith('NDATA', cur.i)) {
      cur.i += 5;
      space(cur, 'after NDATA');
      cur.name('a notation name');
      entity.unparsed = true;
    }
  }
  cur.skipSpace();
  cur.expect('>', "'>' to end <!ENTITY");
  // The first declaration binds; the predefined five keep their meaning.
  if (!parameter && !PREDEFINED.has(name) && !entities.has(name)) entities.set(name, entity);
}

function attlistDecl(cur: XmlCursor): void {
  const at = cur.i;
  cur.i += 9;
  space(cur, 'after <!ATTLIST');
  cur.name('an element name');
  for (;;) {
    const attDef = ATT_DEF();
    attDef.lastIndex = cur.i;
    const m = attDef.exec(cur.src);
    if (!m) break;
    if (/["']$/.test(m[0])) cur.fail('default attribute values in <!ATTLIST> are not supported', at);
    cur.i = attDef.lastIndex;
  }
  cur.skipSpace();
  if (cur.src[cur.i] === '%') cur.fail('parameter entity references are not supported');
  cur.expect('>', "an attribute definition or '>' in <!ATTLIST>");
}

function notationDecl(cur: XmlCursor): void {
  cur.i += 10;
  space(cur, 'after <!NOTATION');
  cur.name('a notation name');
  space(cur, 'after the notation name');
  if (!externalId(cur, true)) cur.fail('expected SYSTEM or PUBLIC');
  cur.skipSpace();
  cur.expect('>', "'>' to end <!NOTATION");
}

function internalSubset(cur: XmlCursor, entities: Map<string, XmlEntity>): void {
  for (;;) {
    cur.skipSpace();
    const s = cur.src;
    const i = cur.i;
    if (i >= s.length) cur.fail('unterminated DOCTYPE internal subset');
    if (s[i] === ']') return;
    if (s[i] === '%') cur.fail('parameter entity references are not supported');
    if (s.startsWith('<!--', i)) cur.skipComment();
    else if (s.startsWith('<?', i)) cur.skipProcessingInstruction();
    else if (s.startsWith('<!ENTITY', i)) entityDecl(cur, entities);
    else if (s.startsWith('<!ATTLIST', i)) attlistDecl(cur);
    else if (s.startsWith('<!NOTATION', i)) notationDecl(cur);
    else if (s.startsWith('<!ELEMENT', i)) {
      const elementDecl = ELEMENT_DECL();
      elementDecl.lastIndex = i;
      if (!elementDecl.test(s)) cur.fail(/^[^>]*%/.test(s.slice(i)) ? 'parameter entity references are not supported' : 'bad <!ELEMENT> declaration');
      cur.i = elementDecl.lastIndex;
    } else cur.fail('expected a markup declaration in the DOCTYPE internal subset');
  }
}

/** Reads `<!DOCTYPE ...>` at `cur.i`. */
export function readDoctype(cur: XmlCursor): XmlDoctype {
  const doctype: XmlDoctype = { entities: new Map(), externalSubset: false };
  cur.i += 9;
  space(cur, 'after <!DOCTYPE');
  cur.name('the document type name');
  if (cur.skipSpace()) {
    doctype.externalSubset = externalId(cur);
    cur.skipSpace();
  }
  if (cur.src[cur.i] === '[') {
    cur.i++;
    internalSubset(cur, doctype.entities);
    cur.i++;
    cur.skipSpace();
  }
  cur.expect('>', "'>' to end the DOCTYPE");
  return doctype;
}
