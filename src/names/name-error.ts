// The error every name parser throws: which kind of name, the text, and the
// rule of the D-Bus specification ("Valid Names", "Valid Object Paths") that
// the text breaks. A ProtocolError, so a peer's bad name ends only that peer.
import { ProtocolError } from '../errors.js';

/** The kinds of names this layer validates. */
export type NameKind = 'bus name' | 'unique name' | 'well-known name' | 'interface name' | 'member name' | 'error name' | 'object path';

const CODES: Record<NameKind, string> = {
  'bus name': 'BAD_BUS_NAME',
  'unique name': 'BAD_BUS_NAME',
  'well-known name': 'BAD_BUS_NAME',
  'interface name': 'BAD_INTERFACE',
  'member name': 'BAD_MEMBER',
  'error name': 'BAD_ERROR_NAME',
  'object path': 'BAD_PATH',
};

/**
 * A string is not a valid name of its kind; `rule` says which rule it breaks.
 * Its `code` is the one the wire decoder gives for the same fault (BAD_PATH...).
 */
export class InvalidNameError extends ProtocolError {
  readonly kind: NameKind;
  readonly text: string;
  readonly rule: string;
  constructor(kind: NameKind, text: string, rule: string) {
    super(CODES[kind], `invalid ${kind} ${JSON.stringify(text.length > 300 ? `${text.slice(0, 300)}…` : text)}: ${rule}`);
    this.name = 'InvalidNameError';
    this.kind = kind;
    this.text = text;
    this.rule = rule;
  }
}
