// The error names a bus itself returns (D-Bus specification, "Message Bus
// Messages"; dbus-daemon's dbus-protocol.h), in one table, and BusError, the
// exception a driver method throws to answer its caller with one of them.

const P = 'org.freedesktop.DBus.Error.';

/** Standard error names, all under org.freedesktop.DBus.Error. */
export const BusErrors = {
  Failed: `${P}Failed`,
  NoMemory: `${P}NoMemory`,
  ServiceUnknown: `${P}ServiceUnknown`,
  NameHasNoOwner: `${P}NameHasNoOwner`,
  NoReply: `${P}NoReply`,
  LimitsExceeded: `${P}LimitsExceeded`,
  AccessDenied: `${P}AccessDenied`,
  InvalidArgs: `${P}InvalidArgs`,
  UnknownMethod: `${P}UnknownMethod`,
  UnknownInterface: `${P}UnknownInterface`,
  UnknownObject: `${P}UnknownObject`,
  UnknownProperty: `${P}UnknownProperty`,
  PropertyReadOnly: `${P}PropertyReadOnly`,
  MatchRuleInvalid: `${P}MatchRuleInvalid`,
  MatchRuleNotFound: `${P}MatchRuleNotFound`,
  UnixProcessIdUnknown: `${P}UnixProcessIdUnknown`,
  SELinuxSecurityContextUnknown: `${P}SELinuxSecurityContextUnknown`,
  AdtAuditDataUnknown: `${P}AdtAuditDataUnknown`,
  NotSupported: `${P}NotSupported`,
  InteractiveAuthorizationRequired: `${P}InteractiveAuthorizationRequired`,
  SpawnExecFailed: `${P}Spawn.ExecFailed`,
  SpawnChildExited: `${P}Spawn.ChildExited`,
  SpawnChildSignaled: `${P}Spawn.ChildSignaled`,
  SpawnFailed: `${P}Spawn.Failed`,
  SpawnServiceNotFound: `${P}Spawn.ServiceNotFound`,
  SpawnNoMemory: `${P}Spawn.NoMemory`,
  SpawnFileInvalid: `${P}Spawn.FileInvalid`,
  SpawnPermissionsInvalid: `${P}Spawn.PermissionsInvalid`,
  TimedOut: `${P}TimedOut`,
} as const;

/** An error the bus answers a call with: a wire error name and a message string. */
export class BusError extends Error {
  constructor(readonly errorName: string, message: string) {
    super(message);
    this.name = 'BusError';
  }
}
