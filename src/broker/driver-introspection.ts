// The driver's introspection data (D-Bus specification, "Introspection Data
// Format"), written as dbus-daemon 1.14 writes it, byte for byte: at
// /org/freedesktop/DBus every interface, elsewhere only those available at
// any path; methods in dbus-daemon's order, arguments without names; and the
// child node that leads towards the bus path from "/", "/org" and "/org/freedesktop".
import type { DriverMethod } from './driver.js';
import { ANY_PATH_INTERFACES, DRIVER_INTERFACE, DRIVER_PATH, INTERFACE_ORDER, PROPERTIES } from './driver-names.js';

/** dbus-daemon's order of the methods in each interface. */
const METHOD_ORDER = [
  'Hello', 'RequestName', 'ReleaseName', 'StartServiceByName', 'UpdateActivationEnvironment', 'NameHasOwner', 'ListNames',
  'ListActivatableNames', 'AddMatch', 'RemoveMatch', 'GetNameOwner', 'ListQueuedOwners', 'GetConnectionUnixUser',
  'GetConnectionUnixProcessID', 'GetAdtAuditSessionData', 'GetConnectionSELinuxSecurityContext', 'ReloadConfig', 'GetId',
  'GetConnectionCredentials',
  'Get', 'GetAll', 'Set',
  'GetStats', 'GetConnectionStats', 'GetAllMatchRules',
  'GetMachineId', 'Ping',
];

const rank = (member: string): number => {
  const i = METHOD_ORDER.indexOf(member);
  return i < 0 ? METHOD_ORDER.length : i;
};

const CONST_PROPERTY = (name: string): string[] => [
  `    <property name="${name}" type="as" access="read">`,
  '      <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="const"/>',
  '    </property>',
];

/** What an interface has besides its methods. */
const EXTRAS: Record<string, string[]> = {
  [DRIVER_INTERFACE]: [
    ...CONST_PROPERTY('Features'), ...CONST_PROPERTY('Interfaces'),
    '    <signal name="NameOwnerChanged">', '      <arg type="s"/>', '      <arg type="s"/>', '      <arg type="s"/>', '    </signal>',
    '    <signal name="NameLost">', '      <arg type="s"/>', '    </signal>',
    '    <signal name="NameAcquired">', '      <arg type="s"/>', '    </signal>',
    '    <signal name="ActivatableServicesChanged">', '    </signal>',
  ],
  [PROPERTIES]: [
    '    <signal name="PropertiesChanged">', '      <arg type="s" name="interface_name"/>',
    '      <arg type="a{sv}" name="changed_properties"/>', '      <arg type="as" name="invalidated_properties"/>', '    </signal>',
  ],
};

/** Introspection XML of the driver at `path`. */
export function introspectDriver(methods: readonly DriverMethod[], path: string): string {
  const lines = [
    '<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"',
    '"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">',
    '<node>',
  ];
  for (const name of INTERFACE_ORDER) {
    if (path !== DRIVER_PATH && !ANY_PATH_INTERFACES.has(name)) continue;
    lines.push(`  <interface name="${name}">`);
    for (const m of methods.filter((x) => x.iface === name).sort((a, b) => rank(a.member) - rank(b.member))) {
      lines.push(`    <method name="${m.member}">`);
      for (const t of splitTypes(m.in)) lines.push(`      <arg direction="in" type="${t}"/>`);
      for (const t of splitTypes(m.out)) lines.push(`      <arg direction="out" type="${t}"/>`);
      lines.push('    </method>');
    }
    lines.push(...(EXTRAS[name] ?? []), '  </interface>');
  }
  if (path === '/') lines.push('  <node name="org/freedesktop/DBus"/>');
  else if (path === '/org') lines.push('  <node name="freedesktop/DBus"/>');
  else if (path === '/org/freedesktop') lines.push('  <node name="DBus"/>');
  lines.push('</node>', '');
  return lines.join('\n');
}

/** Splits a signature into its complete types (for introspection). */
function splitTypes(sig: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < sig.length) {
    const start = i;
    while (sig[i] === 'a') i++;
    if (sig[i] === '(' || sig[i] === '{') {
      let depth = 0;
      do {
        if (sig[i] === '(' || sig[i] === '{') depth++;
        else if (sig[i] === ')' || sig[i] === '}') depth--;
        i++;
      } while (depth > 0);
    } else i++;
    out.push(sig.slice(start, i));
  }
  return out;
}
