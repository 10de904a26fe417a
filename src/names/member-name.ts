// Member names (D-Bus specification, "Valid Names" > "Member names"): the
// name of a method or signal: one element of [A-Za-z0-9_], not starting with a
// digit, no dots, 1 to 255 bytes.
import { MAX_NAME_LENGTH } from './limits.js';
import { InvalidNameError } from './name-error.js';

declare const memberBrand: unique symbol;
/** A valid member name. Made only by `MemberName.parse`. */
export type MemberName = string & { readonly [memberBrand]: true };

/** The rule `s` breaks as a member name, or null when valid. */
export function checkMemberName(s: string): string | null {
  const n = s.length;
  if (n === 0) return 'is empty';
  if (n > MAX_NAME_LENGTH) return `is longer than ${MAX_NAME_LENGTH} bytes`;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      if (i === 0) return 'starts with a digit';
      continue;
    }
    if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f) continue;
    if (c === 0x2e) return `contains a dot at ${i}`;
    return `character ${JSON.stringify(s[i])} at ${i} is not one of [A-Za-z0-9_]`;
  }
  return null;
}

/** True when `s` is a valid member name. Never throws. */
export function isValidMemberName(s: string): s is MemberName {
  return typeof s === 'string' && checkMemberName(s) === null;
}

/** Member names: `MemberName.parse(s)` validates and brands. */
export const MemberName = {
  /** Returns `s` as a MemberName; throws InvalidNameError naming the broken rule. */
  parse(s: string): MemberName {
    const rule = checkMemberName(s);
    if (rule !== null) throw new InvalidNameError('member name', s, rule);
    return s as MemberName;
  },
  isValid: isValidMemberName,
};
