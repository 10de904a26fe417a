// `fastbus set-property DEST PATH IFACE PROPERTY SIGNATURE VALUE...`: writes a
// property, the value in busctl's syntax.
import { Variant } from '../wire/index.js';
import { register } from './commands.js';
import { parseBusArgs } from './bus-args.js';
import { parseCommand, runCommand, UsageError, withBus } from './cli-bus.js';

const USAGE = 'usage: fastbus set-property [--address A | --session | --system] DESTINATION PATH INTERFACE PROPERTY SIGNATURE VALUE...';

register('set-property', {
  run: (argv) =>
    runCommand('set-property', USAGE, async () => {
      const { values, positionals } = parseCommand(argv);
      if (values.help) return void console.log(USAGE);
      if (positionals.length < 6) throw new UsageError('needs DESTINATION PATH INTERFACE PROPERTY SIGNATURE VALUE...');
      const [destination, path, iface, prop, signature, ...args] = positionals;
      const parsed = parseBusArgs(signature, args);
      const [value] = parsed;
      if (parsed.length !== 1) throw new UsageError(`a property value is one complete type, '${signature}' is not`);
      return withBus(values, async (bus) => {
        await bus.callMethod({ destination, path, interface: 'org.freedesktop.DBus.Properties', member: 'Set', signature: 'ssv', body: [iface, prop, new Variant(signature, value)] });
      });
    }),
});
