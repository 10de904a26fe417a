// The error every name parser throws: which kind of name, the text, and the
// rule of the D-Bus specification ("Valid Names", "Valid Object Paths") that
// the text breaks. A ProtocolError, so a peer's bad name ends only that peer.
import { ProtocolError } from '../errors.js';

/** The kinds of names this layer validates. */
export type NameKind = 'bus name' | 'unique name' | 'well-known name' | 'interface name' | 'member name' | 'error name' | 'object path';

const CODES: Record<NameKind, string> = {
  'bus name': 'INVALID_BUS_NAME',
  'unique name': 'INVALID_BUS_NAME',
  'well-known name': 'INVALID_BUS_NAME',
  'interface name': 'INVALID_INTERFACE',
  'member name': 'INVALID_MEMBER',
  'error name': 'INVALID_ERROR_NAME',
  'object path': 'INVALID_PATH',
};

/** A string is not a valid name of its kind; `rule` says which rule it breaks. */
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
