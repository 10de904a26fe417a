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

/** The driver's interfaces in the order dbus-daemon looks methods up and lists them. */
export const INTERFACE_ORDER: readonly string[] = [DRIVER_INTERFACE, PROPERTIES, INTROSPECTABLE, MONITORING, STATS, PEER];

/**
 * The interfaces available at every object path (the older ones, kept so for
 * compatibility, and the two every object has); the others only at DRIVER_PATH.
 */
export const ANY_PATH_INTERFACES: ReadonlySet<string> = new Set([DRIVER_INTERFACE, INTROSPECTABLE, PEER]);
