// `fastbus status [NAME]`: a peer's credentials as the bus reports them
// (pid, uid, groups, security label) with its process; default: the bus itself.
import { register } from './commands.js';
import { parseCommand, printJson, runCommand, withBus } from './cli-bus.js';
import { peerInfo } from './peer-info.js';

const USAGE = 'usage: fastbus status [--address A | --session | --system] [--json] [NAME]';

register('status', {
  summary: "show a peer's credentials and process",
  run: (argv) =>
    runCommand('status', USAGE, async () => {
      const { values, positionals } = parseCommand(argv);
      if (values.help) return void console.log(USAGE);
      const name = positionals[0] ?? 'org.freedesktop.DBus';
      return withBus(values, async (bus) => {
        const info = await peerInfo(bus, name);
        if (values.json) return void printJson(info);
        const lines: [string, string | undefined][] = [
          ['Name', info.name],
          ['UniqueName', info.uniqueName],
          ['PID', info.pid?.toString()],
          ['Comm', info.comm],
          ['CommandLine', info.cmdline?.join(' ')],
          ['UID', info.uid !== undefined ? `${info.uid}${info.user ? ` (${info.user})` : ''}` : undefined],
          ['GIDs', info.gids?.join(' ')],
          ['SecurityLabel', info.securityLabel],
        ];
        for (const [k, v] of lines) if (v !== undefined) console.log(`${k}=${v}`);
      });
    }),
});
