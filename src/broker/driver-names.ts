// The names of the bus itself (D-Bus specification, "Message Bus Messages"):
// the driver's bus name, object path and interfaces.

export const DRIVER_NAME = 'org.freedesktop.DBus';
export const DRIVER_PATH = '/org/freedesktop/DBus';
export const DRIVER_INTERFACE = 'org.freedesktop.DBus';
export const MONITORING = 'org.freedesktop.DBus.Monitoring';
export const STATS = 'org.freedesktop.DBus.Debug.Stats';
export const PEER = 'org.freedesktop.DBus.Peer';
export const INTROSPECTABLE = 'org.freedesktop.DBus.Introspectable';
export const PROPERTIES = 'org.freedesktop.DBus.Properties';
