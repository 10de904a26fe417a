// The position of the XML reader in the text it reads (the document, or the
// replacement text of an entity being expanded), with the lexical pieces of
// XML 1.0 (section 2.3: S, Name) and errors that carry line and column. Errors
// inside an entity's replacement text point at the reference in the document.
import { XmlError } from './xml-error.js';

// Names as XML 1.0 Appendix B (expat's tables): letters start a name; digits,
// marks and modifiers continue it; none from the compatibility area
// (U+F900..U+FFFD) nor outside the BMP. Current Unicode classes stand in for Unicode 2.0's.
const NOT_NAME = '\\u{F900}-\\u{FFFD}\\u{10000}-\\u{10FFFF}';
const START = `\\p{Ll}\\p{Lu}\\p{Lo}\\p{Lt}\\p{Nl}_:`;
/** The pattern of an XML Name, for flags 'vy'. */
export const NAME_SOURCE = `[[${START}]--[${NOT_NAME}]][[${START}\\p{Mc}\\p{Me}\\p{Mn}\\p{Lm}\\p{Nd}.\\-\\u00B7]--[${NOT_NAME}]]*`;

/**
 * `new RegExp(source, flags)`, made at its first use: a pattern with Unicode
 * property classes takes milliseconds to build and again to compile, which a
 * document that needs none of them (a bus config) should not pay at start-up.
 */
export function lazyRegExp(source: string, flags: string): () => RegExp {
  let re: RegExp | undefined;
  return () => (re ??= new RegExp(source, flags));
}

/** An XML Name, sticky (read at `lastIndex`). */
const NAME = lazyRegExp(NAME_SOURCE, 'vy');
/** The ASCII part of NAME: the same match where no character past it is outside ASCII. */
const ASCII_NAME = /[A-Za-z_:][A-Za-z0-9_:.\-]*/y;
const SPACE = /[ \t\n\r]*/y;

/** Whether `code` is a Char of XML 1.0 (section 2.2), as a character reference must be. */
export function isXmlChar(code: number): boolean {
  return code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
}

/** A reading position; subclassed by the reader, handed to the DTD reader. */
export class XmlCursor {
  /** The text being read: the document or an entity's replacement text. */
  src: string;
  /** The index in `src`. */
  i = 0;
  /** Where in the document the outermost entity reference being expanded is; -1 outside entities. */
  refAt = -1;
  private readonly doc: string;
  private posAt = 0;
  private posLine = 1;
  private posLineStart = 0;

  constructor(doc: string) {
    this.doc = doc;
    this.src = doc;
  }

  /** Line and column (from 1) of document index `at`. */
  position(at: number): { line: number; column: number } {
    if (at < this.posAt) {
      this.posAt = 0;
      this.posLine = 1;
      this.posLineStart = 0;
    }
    for (let nl = this.doc.indexOf('\n', this.posAt); nl >= 0 && nl < at; nl = this.doc.indexOf('\n', nl + 1)) {
      this.posLine++;
      this.posLineStart = nl + 1;
    }
    this.posAt = at;
    return { line: this.posLine, column: at - this.posLineStart + 1 };
  }

  /** The document index of `at` in `src` (the reference's, inside an entity). */
  docIndex(at = this.i): number {
    return this.refAt >= 0 ? this.refAt : at;
  }

  /** Throws XmlError for `reason` at `at` in `src` (default: the current index). */
  fail(reason: string, at = this.i): never {
    const { line, column } = this.position(this.docIndex(at));
    throw new XmlError(reason, line, column);
  }

  /** Skips white space (S); true if there was some. */
  skipSpace(): boolean {
    SPACE.lastIndex = this.i;
    SPACE.exec(this.src);
    const moved = SPACE.lastIndex !== this.i;
    this.i = SPACE.lastIndex;
    return moved;
  }

  /** Reads a Name, or fails with `what` expected. */
  name(what: string): string {
    ASCII_NAME.lastIndex = this.i;
    const ascii = ASCII_NAME.exec(this.src);
    if (ascii && !(this.src.charCodeAt(ASCII_NAME.lastIndex) >= 0x80)) {
      this.i = ASCII_NAME.lastIndex;
      return ascii[0];
    }
    const name = NAME();
    name.lastIndex = this.i;
    const m = name.exec(this.src);
    if (!m) this.fail(`expected ${what}`);
    this.i = name.lastIndex;
    return m[0];
  }

  /** Steps over `literal`, or fails. */
  expect(literal: string, what = `'${literal}'`): void {
    if (!this.src.startsWith(literal, this.i)) this.fail(`expected ${what}`);
    this.i += literal.length;
  }

  /** Reads a quoted literal (either quote) and returns its inside; `this.i` ends after the closing quote. */
  quoted(what: string): string {
    const q = this.src[this.i];
    if (q !== '"' && q !== "'") this.fail(`expected ${what} in quotes`);
    const end = this.src.indexOf(q, this.i + 1);
    if (end < 0) this.fail(`${what} has no closing quote`);
    const inside = this.src.slice(this.i + 1, end);
    this.i = end + 1;
    return inside;
  }

  /** Steps over a comment at `this.i` ('<!--'); '--' may not occur inside. */
  skipComment(): void {
    const end = this.src.indexOf('--', this.i + 4);
    if (end < 0) this.fail('unterminated comment');
    if (this.src.charCodeAt(end + 2) !== 0x3e) this.fail("'--' inside a comment", end);
    this.i = end + 3;
  }

  /** Steps over a processing instruction at `this.i` ('<?'); its target may not be 'xml' in any case. */
  skipProcessingInstruction(): void {
    const at = this.i;
    this.i += 2;
    const target = this.name('a processing instruction target');
    if (target.toLowerCase() === 'xml') this.fail('an XML declaration is only allowed at the very start', at);
    const end = this.src.indexOf('?>', this.i);
    if (end < 0) this.fail('unterminated processing instruction', at);
    if (end !== this.i && !this.skipSpace()) this.fail('expected white space after the processing instruction target');
    this.i = end + 2;
  }
}
