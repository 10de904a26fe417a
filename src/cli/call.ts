// `fastbus call DEST PATH IFACE METHOD [SIGNATURE [ARGS...]]`: one method call
// with arguments in busctl's syntax; prints the reply in the same syntax, or
// as JSON with --json.
import { register } from './commands.js';
import { formatBusArgs, parseBusArgs, toJson } from './bus-args.js';
import { parseCommand, printJson, runCommand, timeoutOf, UsageError, withBus } from './cli-bus.js';

const USAGE = `usage: fastbus call [--address A | --session | --system] [--json] [--timeout 5s] [--no-reply]
                   DESTINATION PATH INTERFACE METHOD [SIGNATURE [ARGUMENTS...]]
  arguments follow busctl: an array gives its length then its items, a dict its
  length then key value pairs, a variant its signature then its value.
  put '--' before arguments that start with '-'.`;

register('call', {
  run: (argv) =>
    runCommand('call', USAGE, async () => {
      const { values, positionals } = parseCommand(argv, { 'no-reply': { type: 'boolean' } });
      if (values.help) return void console.log(USAGE);
      if (positionals.length < 4) throw new UsageError('needs DESTINATION PATH INTERFACE METHOD');
      const [destination, path, iface, member, signature = '', ...args] = positionals;
      const body = parseBusArgs(signature, args);
      const timeoutMs = timeoutOf(values);
      return withBus(values, async (bus) => {
        if (values['no-reply']) {
          bus.send({ type: 1, flags: 1, destination, path, interface: iface, member, signature, body });
          await bus.busCall('GetId');
          return;
        }
        const reply = await bus.call({ destination, path, interface: iface, member, signature, body }, { timeoutMs });
        const sig = reply.signature ?? '';
        if (values.json) printJson({ type: sig, data: toJson(reply.body) });
        else if (sig !== '') console.log(formatBusArgs(sig, reply.body));
      });
    }),
});
