// The limits of the D-Bus specification, each with its section (the name
// limit is names/limits.ts's, re-exported: names/ is below wire/).

/** "Valid Signatures": a signature is at most 255 bytes. */
export const MAX_SIGNATURE_LENGTH = 255;
/** "Valid Signatures": arrays nest at most 32 deep. */
export const MAX_ARRAY_DEPTH = 32;
/** "Valid Signatures": structs nest at most 32 deep. */
export const MAX_STRUCT_DEPTH = 32;
/** "Valid Signatures": total nesting (arrays, structs and variants) at most 64. */
export const MAX_TOTAL_DEPTH = 64;
/** "Marshaling (Wire Format)": an array's data is at most 64 MiB (2^26 bytes). */
export const MAX_ARRAY_LENGTH = 64 * 1024 * 1024;
/** "Message Format": a message is at most 128 MiB (2^27 bytes), header and body. */
export const MAX_MESSAGE_LENGTH = 128 * 1024 * 1024;
/** "Valid Names": bus, interface, member and error names are at most 255 bytes (defined in names/, which wire/ builds on). */
export { MAX_NAME_LENGTH } from '../names/limits.js';
