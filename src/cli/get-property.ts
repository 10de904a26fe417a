// `fastbus get-property DEST PATH IFACE PROPERTY...`: reads properties and
// prints each as `TYPE VALUE` in busctl's syntax (or JSON).
import { Variant } from '../wire/index.js';
import { register } from './commands.js';
import { formatBusArgs, toJson } from './bus-args.js';
import { parseCommand, printJson, runCommand, UsageError, withBus } from './cli-bus.js';

const USAGE = 'usage: fastbus get-property [--address A | --session | --system] [--json] DESTINATION PATH INTERFACE PROPERTY...';

register('get-property', {
  run: (argv) =>
    runCommand('get-property', USAGE, async () => {
      const { values, positionals } = parseCommand(argv);
      if (values.help) return void console.log(USAGE);
      if (positionals.length < 4) throw new UsageError('needs DESTINATION PATH INTERFACE PROPERTY...');
      const [destination, path, iface, ...props] = positionals;
      return withBus(values, async (bus) => {
        const got = await Promise.all(props.map((p) =>
          bus.callMethod({ destination, path, interface: 'org.freedesktop.DBus.Properties', member: 'Get', signature: 'ss', body: [iface, p] })));
        for (const [v] of got) {
          const variant = v as Variant;
          if (values.json) printJson({ type: variant.signature, data: toJson(variant.value) });
          else console.log(formatBusArgs(variant.signature, [variant.value]));
        }
      });
    }),
});
