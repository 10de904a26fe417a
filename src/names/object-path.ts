// Object paths (D-Bus specification, "Valid Object Paths"): `/` or
// `/`-separated non-empty elements of [A-Za-z0-9_], starting with `/`, with
// no trailing `/`. No length limit of its own beyond the message's.
import { InvalidNameError } from './name-error.js';

declare const pathBrand: unique symbol;
/** A valid object path. Made only by `ObjectPath.parse`. */
export type ObjectPath = string & { readonly [pathBrand]: true };

/** The rule `s` breaks as an object path, or null when valid. */
export function checkObjectPath(s: string): string | null {
  const n = s.length;
  if (n === 0) return 'is empty';
  if (s.charCodeAt(0) !== 0x2f) return "does not start with '/'";
  if (n === 1) return null;
  let element = 1;
  let elementStart = 1;
  for (let i = 1; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2f) {
      if (i === elementStart) return `element ${element} is empty`;
      element++;
      elementStart = i + 1;
      continue;
    }
    if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f) continue;
    return `character ${JSON.stringify(s[i])} at ${i} is not one of [A-Za-z0-9_]`;
  }
  if (elementStart === n) return "ends with '/'";
  return null;
}

/** True when `s` is a valid object path. Never throws. */
export function isValidObjectPath(s: string): s is ObjectPath {
  return typeof s === 'string' && checkObjectPath(s) === null;
}

/** Object paths: `ObjectPath.parse(s)` validates and brands. */
export const ObjectPath = {
  /** Returns `s` as an ObjectPath; throws InvalidNameError naming the broken rule. */
  parse(s: string): ObjectPath {
    const rule = checkObjectPath(s);
    if (rule !== null) throw new InvalidNameError('object path', s, rule);
    return s as ObjectPath;
  },
  isValid: isValidObjectPath,
};
