// The errors a client call can end with: the remote side's error reply
// (DBusError, with the wire name and body), a timeout, an abort, and the
// connection going away. Standard error names of the specification in one table.

/** Error names of the specification and of dbus-daemon (org.freedesktop.DBus.Error.*). */
export const ErrorNames = {
  Failed: 'org.freedesktop.DBus.Error.Failed',
  NoMemory: 'org.freedesktop.DBus.Error.NoMemory',
  ServiceUnknown: 'org.freedesktop.DBus.Error.ServiceUnknown',
  NameHasNoOwner: 'org.freedesktop.DBus.Error.NameHasNoOwner',
  NoReply: 'org.freedesktop.DBus.Error.NoReply',
  LimitsExceeded: 'org.freedesktop.DBus.Error.LimitsExceeded',
  AccessDenied: 'org.freedesktop.DBus.Error.AccessDenied',
  InvalidArgs: 'org.freedesktop.DBus.Error.InvalidArgs',
  InvalidSignature: 'org.freedesktop.DBus.Error.InvalidSignature',
  UnknownMethod: 'org.freedesktop.DBus.Error.UnknownMethod',
  UnknownInterface: 'org.freedesktop.DBus.Error.UnknownInterface',
  UnknownObject: 'org.freedesktop.DBus.Error.UnknownObject',
  UnknownProperty: 'org.freedesktop.DBus.Error.UnknownProperty',
  PropertyReadOnly: 'org.freedesktop.DBus.Error.PropertyReadOnly',
  NotSupported: 'org.freedesktop.DBus.Error.NotSupported',
  Disconnected: 'org.freedesktop.DBus.Error.Disconnected',
  Timeout: 'org.freedesktop.DBus.Error.Timeout',
} as const;

/**
 * An error reply from the remote side. `name` is the D-Bus error name (e.g.
 * 'org.freedesktop.DBus.Error.UnknownMethod'), `body` the reply's values; the
 * message is the first body value when it is a string.
 */
export class DBusError extends Error {
  override name: string;
  readonly body: unknown[];
  constructor(name: string, message?: string, body?: unknown[]) {
    super(message ?? (typeof body?.[0] === 'string' ? (body[0] as string) : name));
    this.name = name;
    this.body = body ?? (message !== undefined ? [message] : []);
  }
}

/** A call got no reply within its timeout; the pending call was removed. */
export class TimeoutError extends Error {
  readonly timeoutMs: number;
  constructor(what: string, timeoutMs: number) {
    super(`${what}: no reply within ${timeoutMs} ms`);
    this.name = 'TimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

/** A call was aborted by its AbortSignal; the pending call was removed. */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR';
  constructor(what: string, options?: { cause?: unknown }) {
    super(`${what}: aborted`, options);
    this.name = 'AbortError';
  }
}

/** The connection closed (by close(), by the peer, or by a protocol error) while the operation was pending. */
export class DisconnectedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DisconnectedError';
  }
}
