// The one error of the XML reader (xml-reader.ts): a document that is not
// well-formed, or that uses what the reader refuses, with where it happened.

/** XML that is not well-formed or is refused; `line` and `column` count from 1. */
export class XmlError extends Error {
  readonly line: number;
  readonly column: number;
  /** The fault alone, without the position. */
  readonly reason: string;

  constructor(reason: string, line: number, column: number) {
    super(`line ${line}, column ${column}: ${reason}`);
    this.name = 'XmlError';
    this.reason = reason;
    this.line = line;
    this.column = column;
  }
}
