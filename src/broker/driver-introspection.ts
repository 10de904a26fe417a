// The driver's introspection data (D-Bus specification, "Introspection Data
// Format"): its interfaces with their methods, signals and properties, as
// dbus-daemon lists them, and the child nodes that lead to the bus path.
import type { DriverMethod } from './driver.js';
import { DRIVER_INTERFACE, DRIVER_PATH, INTROSPECTABLE, MONITORING, PEER, PROPERTIES, STATS } from './driver-names.js';

/** Introspection XML of the driver: the bus interfaces at every path, and the child node under "/". */
export function introspectDriver(methods: readonly DriverMethod[], path: string): string {
  const ifaces = new Map<string, DriverMethod[]>();
  for (const m of methods) {
    const l = ifaces.get(m.iface) ?? [];
    l.push(m);
    ifaces.set(m.iface, l);
  }
  const order = [DRIVER_INTERFACE, PROPERTIES, INTROSPECTABLE, MONITORING, STATS, PEER];
  const lines = [
    '<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"',
    '"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">',
    '<node>',
  ];
  for (const name of order) {
    if (path !== DRIVER_PATH && (name === MONITORING || name === STATS)) continue;
    lines.push(`  <interface name="${name}">`);
    for (const m of ifaces.get(name) ?? []) {
      lines.push(`    <method name="${m.member}">`);
      const ins = splitTypes(m.in);
      const outs = splitTypes(m.out);
      ins.forEach((t, i) => lines.push(`      <arg direction="in" type="${t}" name="${m.args[i] ?? `arg${i}`}"/>`));
      outs.forEach((t, i) => lines.push(`      <arg direction="out" type="${t}" name="${m.args[ins.length + i] ?? `arg${ins.length + i}`}"/>`));
      lines.push('    </method>');
    }
    if (name === DRIVER_INTERFACE) {
      lines.push(
        '    <signal name="NameOwnerChanged">',
        '      <arg type="s" name="name"/>', '      <arg type="s" name="old_owner"/>', '      <arg type="s" name="new_owner"/>',
        '    </signal>',
        '    <signal name="NameLost">', '      <arg type="s" name="name"/>', '    </signal>',
        '    <signal name="NameAcquired">', '      <arg type="s" name="name"/>', '    </signal>',
        '    <property name="Features" type="as" access="read">',
        '      <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="const"/>',
        '    </property>',
        '    <property name="Interfaces" type="as" access="read">',
        '      <annotation name="org.freedesktop.DBus.Property.EmitsChangedSignal" value="const"/>',
        '    </property>',
      );
    }
    if (name === PROPERTIES) {
      lines.push('    <signal name="PropertiesChanged">', '      <arg type="s" name="interface_name"/>',
        '      <arg type="a{sv}" name="changed_properties"/>', '      <arg type="as" name="invalidated_properties"/>', '    </signal>');
    }
    lines.push('  </interface>');
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
