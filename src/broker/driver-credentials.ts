// The driver's questions about a connection's identity (D-Bus
// specification, "Message Bus Messages"): its uid, pid and credentials,
// read from SO_PEERCRED at accept (and the pidfd, passed as ProcessFD).
// Audit and SELinux data are not kept: those calls answer as dbus-daemon
// does without them.
import { Variant } from '../wire/index.js';
import type { Broker } from './broker.js';
import { BusError, BusErrors } from './bus-error.js';
import type { Connection } from './connection.js';
import type { Driver } from './driver.js';
import { DRIVER_INTERFACE as D, DRIVER_NAME } from './driver-names.js';

/**
 * A peer's pid as dbus-daemon reports it: from SO_PEERCRED, else 0 over tcp
 * (what dbus-daemon answers there), else unknown.
 */
function processIdOf(c: Connection): number | undefined {
  return c.credentials ? c.credentials.pid : c.stream.kind === 'tcp' ? 0 : undefined;
}

/** Adds GetConnectionUnixUser, GetConnectionUnixProcessID, GetConnectionCredentials and the audit/SELinux calls. */
export function defineCredentialMethods(driver: Driver, bus: Broker): void {
  driver.add(D, 'GetConnectionUnixUser', 's', 'u', ['bus_name', 'unix_user_id'], true, (_conn, msg) => {
    const [name] = msg.body as [string];
    if (name === DRIVER_NAME) return ['u', [process.getuid?.() ?? 0]];
    const c = driver.connectionOf(name);
    const uid = c.credentials?.uid ?? c.uid;
    if (uid === undefined) throw new BusError(BusErrors.Failed, `Could not determine UID for '${name}'`);
    return ['u', [uid]];
  });
  driver.add(D, 'GetConnectionUnixProcessID', 's', 'u', ['bus_name', 'unix_process_id'], true, (_conn, msg) => {
    const [name] = msg.body as [string];
    if (name === DRIVER_NAME) return ['u', [process.pid]];
    const c = driver.connectionOf(name);
    const pid = processIdOf(c);
    if (pid === undefined) throw new BusError(BusErrors.UnixProcessIdUnknown, `Could not determine PID for '${name}'`);
    return ['u', [pid]];
  });
  driver.add(D, 'GetConnectionCredentials', 's', 'a{sv}', ['bus_name', 'credentials'], true, (conn, msg) => {
    const [name] = msg.body as [string];
    const creds = new Map<string, Variant>();
    if (name === DRIVER_NAME) {
      creds.set('UnixUserID', new Variant('u', process.getuid?.() ?? 0));
      creds.set('ProcessID', new Variant('u', process.pid));
      return ['a{sv}', [creds]];
    }
    const c = driver.connectionOf(name);
    const uid = c.credentials?.uid ?? c.uid;
    if (uid !== undefined) creds.set('UnixUserID', new Variant('u', uid));
    if (c.credentials) creds.set('UnixGroupIDs', new Variant('au', c.credentials.groups.length ? c.credentials.groups : [c.credentials.gid]));
    const pid = processIdOf(c);
    if (pid !== undefined) creds.set('ProcessID', new Variant('u', pid));
    // ProcessFD only to a caller that can receive fds (a pidfd: it cannot point at a recycled pid).
    const processFd = conn.unixFd ? c.processFd : undefined;
    if (processFd) {
      creds.set('ProcessFD', new Variant('h', 0));
      bus.router.reply(conn, msg, 'a{sv}', [creds], processFd);
      return 'handled';
    }
    return ['a{sv}', [creds]];
  });
  driver.add(D, 'GetAdtAuditSessionData', 's', 'ay', ['bus_name', 'audit_session_data'], true, (_conn, msg) => {
    const [name] = msg.body as [string];
    driver.connectionOf(name);
    throw new BusError(BusErrors.AdtAuditDataUnknown, `Could not determine audit session data for '${name}'`);
  });
  driver.add(D, 'GetConnectionSELinuxSecurityContext', 's', 'ay', ['bus_name', 'security_context'], true, (_conn, msg) => {
    const [name] = msg.body as [string];
    driver.connectionOf(name);
    throw new BusError(BusErrors.SELinuxSecurityContextUnknown, `Could not determine security context for '${name}'`);
  });
}
