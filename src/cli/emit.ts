// `fastbus emit PATH IFACE MEMBER [SIGNATURE [ARGS...]]`: sends one signal
// (to everyone, or to --destination), arguments in busctl's syntax.
import { register } from './commands.js';
import { parseBusArgs } from './bus-args.js';
import { parseCommand, runCommand, UsageError, withBus } from './cli-bus.js';

const USAGE = `usage: fastbus emit [--address A | --session | --system] [--destination NAME]
                   PATH INTERFACE MEMBER [SIGNATURE [ARGUMENTS...]]`;

register('emit', {
  run: (argv) =>
    runCommand('emit', USAGE, async () => {
      const { values, positionals } = parseCommand(argv, { destination: { type: 'string' } });
      if (values.help) return void console.log(USAGE);
      if (positionals.length < 3) throw new UsageError('needs PATH INTERFACE MEMBER');
      const [path, iface, member, signature = '', ...args] = positionals;
      const body = parseBusArgs(signature, args);
      return withBus(values, async (bus) => {
        bus.emitSignal(path, iface, member, signature, body, values.destination as string | undefined);
        // A round trip to the bus: the signal has been read by it before we close.
        await bus.busCall('GetId');
      });
    }),
});
