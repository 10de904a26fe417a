// Interface and error names (D-Bus specification, "Valid Names" > "Interface
// names", "Error names"): dot-separated elements of [A-Za-z0-9_], none
// starting with a digit, at least two, at most 255 bytes. Error names follow
// the interface-name rules exactly.
import { MAX_NAME_LENGTH } from './limits.js';
import { InvalidNameError } from './name-error.js';

declare const interfaceBrand: unique symbol;
declare const errorBrand: unique symbol;
/** A valid interface name. Made only by `InterfaceName.parse`. */
export type InterfaceName = string & { readonly [interfaceBrand]: true };
/** A valid error name. Made only by `ErrorName.parse`. */
export type ErrorName = string & { readonly [errorBrand]: true };

/** The rule `s` breaks as an interface (or error) name, or null when valid. */
export function checkInterfaceName(s: string): string | null {
  const n = s.length;
  if (n === 0) return 'is empty';
  if (n > MAX_NAME_LENGTH) return `is longer than ${MAX_NAME_LENGTH} bytes`;
  let element = 1;
  let elementStart = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? s.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (i === elementStart) return i === n && element > 1 ? 'ends with a dot' : `element ${element} is empty`;
      element++;
      elementStart = i + 1;
      continue;
    }
    if (c >= 0x30 && c <= 0x39) {
      if (i === elementStart) return `element ${element} starts with a digit`;
      continue;
    }
    if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f) continue;
    return `character ${JSON.stringify(s[i])} at ${i} is not one of [A-Za-z0-9_]`;
  }
  if (element < 3) return 'has only one element (needs at least two, separated by a dot)';
  return null;
}

/** True when `s` is a valid interface name. Never throws. */
export function isValidInterfaceName(s: string): s is InterfaceName {
  return typeof s === 'string' && checkInterfaceName(s) === null;
}
/** True when `s` is a valid error name. Never throws. */
export function isValidErrorName(s: string): s is ErrorName {
  return typeof s === 'string' && checkInterfaceName(s) === null;
}

/** Interface names: `InterfaceName.parse(s)` validates and brands. */
export const InterfaceName = {
  /** Returns `s` as an InterfaceName; throws InvalidNameError naming the broken rule. */
  parse(s: string): InterfaceName {
    const rule = checkInterfaceName(s);
    if (rule !== null) throw new InvalidNameError('interface name', s, rule);
    return s as InterfaceName;
  },
  isValid: isValidInterfaceName,
};

/** Error names: `ErrorName.parse(s)` validates and brands. */
export const ErrorName = {
  /** Returns `s` as an ErrorName; throws InvalidNameError naming the broken rule. */
  parse(s: string): ErrorName {
    const rule = checkInterfaceName(s);
    if (rule !== null) throw new InvalidNameError('error name', s, rule);
    return s as ErrorName;
  },
  isValid: isValidErrorName,
};
