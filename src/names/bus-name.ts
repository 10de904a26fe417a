// Bus names (D-Bus specification, "Valid Names" > "Bus names"): a unique name
// `:1.42` given by the bus, or a well-known name `org.example.App` that a
// connection requests. Dot-separated elements of [A-Za-z0-9_-], at least two,
// at most 255 bytes; only a unique name's elements may start with a digit.
import { MAX_NAME_LENGTH } from './limits.js';
import { InvalidNameError } from './name-error.js';

declare const busNameBrand: unique symbol;
declare const uniqueBrand: unique symbol;
declare const wellKnownBrand: unique symbol;
/** A valid bus name (unique or well-known). Made only by `BusName.parse`. */
export type BusName = string & { readonly [busNameBrand]: true };
/** A valid unique name (`:1.42`). Made only by `UniqueName.parse`. */
export type UniqueName = BusName & { readonly [uniqueBrand]: true };
/** A valid well-known name (`org.example.App`). Made only by `WellKnownName.parse`. */
export type WellKnownName = BusName & { readonly [wellKnownBrand]: true };

/**
 * The rule that `s` breaks as a bus name, or null when it is valid.
 * `want` narrows to one kind of bus name.
 */
export function checkBusName(s: string, want: 'any' | 'unique' | 'well-known' = 'any'): string | null {
  const n = s.length;
  if (n === 0) return 'is empty';
  if (n > MAX_NAME_LENGTH) return `is longer than ${MAX_NAME_LENGTH} bytes`;
  const unique = s.charCodeAt(0) === 0x3a; // ':'
  if (unique && want === 'well-known') return "starts with ':' (that makes it a unique name)";
  if (!unique && want === 'unique') return "does not start with ':'";
  let element = 1;
  let elementStart = unique ? 1 : 0;
  for (let i = elementStart; i <= n; i++) {
    const c = i < n ? s.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (i === elementStart) return i === n && element > 1 ? 'ends with a dot' : `element ${element} is empty`;
      element++;
      elementStart = i + 1;
      continue;
    }
    if (c >= 0x30 && c <= 0x39) {
      if (i === elementStart && !unique) return `element ${element} starts with a digit`;
      continue;
    }
    if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x2d) continue;
    return `character ${JSON.stringify(s[i])} at ${i} is not one of [A-Za-z0-9_-]`;
  }
  if (element < 3) return 'has only one element (needs at least two, separated by a dot)';
  return null;
}

/** True when `s` is a valid bus name (unique or well-known). Never throws. */
export function isValidBusName(s: string): s is BusName {
  return typeof s === 'string' && checkBusName(s) === null;
}
/** True when `s` is a valid unique name. Never throws. */
export function isValidUniqueName(s: string): s is UniqueName {
  return typeof s === 'string' && s.charCodeAt(0) === 0x3a && checkBusName(s, 'unique') === null;
}
/** True when `s` is a valid well-known name. Never throws. */
export function isValidWellKnownName(s: string): s is WellKnownName {
  return typeof s === 'string' && s.charCodeAt(0) !== 0x3a && checkBusName(s, 'well-known') === null;
}

/** Bus names: `BusName.parse(s)` validates and brands, `BusName.isValid(s)` only checks. */
export const BusName = {
  /** Returns `s` as a BusName; throws InvalidNameError naming the broken rule. */
  parse(s: string): BusName {
    const rule = checkBusName(s);
    if (rule !== null) throw new InvalidNameError('bus name', s, rule);
    return s as BusName;
  },
  isValid: isValidBusName,
};

/** Unique names (`:1.42`). */
export const UniqueName = {
  parse(s: string): UniqueName {
    const rule = checkBusName(s, 'unique');
    if (rule !== null) throw new InvalidNameError('unique name', s, rule);
    return s as UniqueName;
  },
  isValid: isValidUniqueName,
};

/** Well-known names (`org.example.App`). */
export const WellKnownName = {
  parse(s: string): WellKnownName {
    const rule = checkBusName(s, 'well-known');
    if (rule !== null) throw new InvalidNameError('well-known name', s, rule);
    return s as WellKnownName;
  },
  isValid: isValidWellKnownName,
};
