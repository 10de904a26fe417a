// `fastbus introspect DEST PATH [IFACE]`: an object's interfaces with their
// methods, signals and properties (with current values), as a table like
// busctl's, the raw XML (--xml) or JSON.
import { methodSignatures, parseIntrospection, type NodeInfo } from '../client/index.js';
import { Variant } from '../wire/index.js';
import { register } from './commands.js';
import { formatBusArgs, toJson } from './bus-args.js';
import { parseCommand, printJson, runCommand, UsageError, withBus } from './cli-bus.js';

const USAGE = 'usage: fastbus introspect [--address A | --session | --system] [--json | --xml] DESTINATION PATH [INTERFACE]';

register('introspect', {
  run: (argv) =>
    runCommand('introspect', USAGE, async () => {
      const { values, positionals } = parseCommand(argv, { xml: { type: 'boolean' } });
      if (values.help) return void console.log(USAGE);
      if (positionals.length < 2) throw new UsageError('needs DESTINATION PATH');
      const [destination, path, only] = positionals;
      return withBus(values, async (bus) => {
        const [xml] = await bus.callMethod({ destination, path, interface: 'org.freedesktop.DBus.Introspectable', member: 'Introspect' });
        if (values.xml) return void process.stdout.write(xml as string);
        const node: NodeInfo = parseIntrospection(xml as string);
        const ifaces = node.interfaces.filter((i) => only === undefined || i.name === only);
        if (only !== undefined && ifaces.length === 0) throw new UsageError(`${destination} ${path} has no interface '${only}'`);
        const values2 = new Map<string, Record<string, Variant>>();
        await Promise.all(ifaces.filter((i) => i.properties.length > 0).map(async (i) => {
          try {
            const [all] = await bus.callMethod({ destination, path, interface: 'org.freedesktop.DBus.Properties', member: 'GetAll', signature: 's', body: [i.name] });
            values2.set(i.name, all as Record<string, Variant>);
          } catch {
            // properties that cannot be read are shown without values
          }
        }));
        if (values.json) {
          return void printJson({
            ...node,
            interfaces: ifaces.map((i) => ({ ...i, values: toJson(values2.get(i.name) ?? {}) })),
          });
        }
        const rows: string[][] = [['NAME', 'TYPE', 'SIGNATURE', 'RESULT/VALUE', 'FLAGS']];
        for (const i of ifaces) {
          rows.push([i.name, 'interface', '-', '-', '-']);
          for (const m of i.methods) {
            const sig = methodSignatures(m);
            rows.push([`.${m.name}`, 'method', sig.in || '-', sig.out || '-', m.annotations['org.freedesktop.DBus.Deprecated'] === 'true' ? 'deprecated' : '-']);
          }
          for (const p of i.properties) {
            const v = values2.get(i.name)?.[p.name];
            const shown = v !== undefined ? formatBusArgs(p.type, [v.value]).slice(p.type.length + 1) : '-';
            rows.push([`.${p.name}`, 'property', p.type, shown, p.access === 'read' ? '-' : 'writable']);
          }
          for (const s of i.signals) rows.push([`.${s.name}`, 'signal', s.args.map((a) => a.type).join('') || '-', '-', '-']);
        }
        const widths = rows[0].map((_, k) => Math.min(40, Math.max(...rows.map((r) => r[k].length))));
        for (const r of rows) console.log(r.map((c, k) => (k === r.length - 1 ? c : c.padEnd(widths[k]))).join(' '));
      });
    }),
});
