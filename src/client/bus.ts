// The standard buses: the session bus from DBUS_SESSION_BUS_ADDRESS (or
// $XDG_RUNTIME_DIR/bus), the system bus from DBUS_SYSTEM_BUS_ADDRESS (or
// /var/run/dbus/system_bus_socket), as the specification and libdbus define.
import { existsSync } from 'node:fs';
import { connect } from './connect.js';
import type { Connection, ConnectionOptions } from './connection.js';

/** The session bus address: $DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus if that socket exists. */
export function sessionBusAddress(env: NodeJS.ProcessEnv = process.env): string {
  const a = env.DBUS_SESSION_BUS_ADDRESS;
  if (a) return a;
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && existsSync(`${runtime}/bus`)) return `unix:path=${runtime}/bus`;
  throw new Error('no session bus: DBUS_SESSION_BUS_ADDRESS is not set and $XDG_RUNTIME_DIR/bus does not exist');
}

/** The system bus address: $DBUS_SYSTEM_BUS_ADDRESS, else unix:path=/var/run/dbus/system_bus_socket. */
export function systemBusAddress(env: NodeJS.ProcessEnv = process.env): string {
  return env.DBUS_SYSTEM_BUS_ADDRESS || 'unix:path=/var/run/dbus/system_bus_socket';
}

/** Connects to the session bus. */
export function sessionBus(options?: ConnectionOptions): Promise<Connection> {
  return connect(sessionBusAddress(), options);
}

/** Connects to the system bus. */
export function systemBus(options?: ConnectionOptions): Promise<Connection> {
  return connect(systemBusAddress(), options);
}
