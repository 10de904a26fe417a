// Encoding a body alone (values along a signature, no header), with the
// module's one Encoder: what `fastbus/wire` exports as encodeValues.
import { EncodeError } from './encode-error.js';
import { encoder } from './encoder.js';
import { validSignatureList } from './caller-signature.js';

/**
 * Encodes `values` along `signature` (the body of a message) and returns the
 * bytes, aligned as if they started at a multiple of 8. Throws EncodeError.
 */
export function encodeValues(signature: string, values: readonly unknown[], options?: { endian?: 'little' | 'big' }): Buffer {
  const types = validSignatureList(signature);
  if (!Array.isArray(values) || values.length !== types.length) {
    throw new EncodeError(`signature ${JSON.stringify(signature)} has ${types.length} types but ${Array.isArray(values) ? values.length : 'no array of'} values were given`);
  }
  const w = encoder;
  w.reset(options?.endian !== 'big');
  try {
    for (let i = 0; i < types.length; i++) {
      try {
        w.value(types[i], values[i]);
      } catch (e) {
        if (e instanceof EncodeError) throw e.within(`[${i}]`);
        throw e;
      }
    }
  } catch (e) {
    w.reset(true);
    throw e;
  }
  return w.take();
}
