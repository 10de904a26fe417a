// fastbus/names: validated D-Bus names, made only by parsing. Each kind is a
// branded string type with a companion object of the same name:
// `ObjectPath.parse(s)` returns the branded string or throws InvalidNameError
// (naming the rule broken); `isValidObjectPath(s)` checks without throwing.
// Signatures are wire/'s (`Signature` in fastbus/wire): their grammar is the
// type system's. names/ imports nothing from wire/ (wire/ builds on names/).
export { BusName, UniqueName, WellKnownName, checkBusName, isValidBusName, isValidUniqueName, isValidWellKnownName } from './bus-name.js';
export { InterfaceName, ErrorName, checkInterfaceName, isValidInterfaceName, isValidErrorName } from './interface-name.js';
export { MemberName, checkMemberName, isValidMemberName } from './member-name.js';
export { ObjectPath, checkObjectPath, isValidObjectPath } from './object-path.js';
export { InvalidNameError, type NameKind } from './name-error.js';
export { DIRECT_INTERFACE } from './direct-interface.js';
