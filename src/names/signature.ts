// Signatures as a validated name type (D-Bus specification, "Valid
// Signatures"): the rules live in wire/signature.ts, which parses them into
// type trees; this brands a string that passed them.
import { isValidSignature, parseSignature, signatureRule } from '../wire/signature.js';

declare const signatureBrand: unique symbol;
/** A valid signature (zero or more complete types). Made only by `Signature.parse`. */
export type Signature = string & { readonly [signatureBrand]: true };

/** The rule `s` breaks as a signature, or null when valid. */
export function checkSignature(s: string): string | null {
  return typeof s === 'string' ? signatureRule(s) : 'is not a string';
}

/** Signatures: `Signature.parse(s)` validates and brands. */
export const Signature = {
  /** Returns `s` as a Signature; throws ProtocolError (BAD_SIGNATURE) naming the broken rule. */
  parse(s: string): Signature {
    parseSignature(s);
    return s as Signature;
  },
  isValid(s: string): s is Signature {
    return isValidSignature(s);
  },
};
