// The limit of the D-Bus specification that names obey ("Valid Names").
// wire/limits.ts re-exports it, so that all the specification's limits read
// as one table there; it is defined here because names/ is below wire/.

/** "Valid Names": bus, interface, member and error names are at most 255 bytes. */
export const MAX_NAME_LENGTH = 255;
