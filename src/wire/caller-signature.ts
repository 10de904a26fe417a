// A signature given by the caller of an encoder (a body's, or a value of
// type SIGNATURE), parsed, its fault turned into the caller's EncodeError
// rather than a peer's ProtocolError.
import { ProtocolError } from '../errors.js';
import { EncodeError } from './encode-error.js';
import { parseSignature, parseSingleType, type SignatureType } from './signature.js';

/** Parses a signature given by the caller, turning a bad one into an EncodeError. */
export function validSignatureList(sig: string): readonly SignatureType[] {
  try {
    return parseSignature(sig);
  } catch (e) {
    if (e instanceof ProtocolError) throw new EncodeError(e.message);
    throw e;
  }
}

/** Checks `sig` (one complete type with `single`), returning that type with `single`, else null. */
export function validSignature(sig: string, single: boolean): SignatureType | null {
  try {
    if (single) return parseSingleType(sig);
    parseSignature(sig);
    return null;
  } catch (e) {
    if (e instanceof ProtocolError) throw new EncodeError(e.message);
    throw e;
  }
}
