// `fastbus status [NAME]`: a peer's credentials as the bus reports them
// (pid, uid, groups, security label) with its process; default: the bus itself.
import { register } from './commands.js';
import { parseCommand, printJson, runCommand, withBus } from './cli-bus.js';
import { peerInfo } from './peer-info.js';
import type { Connection } from '../client/index.js';
import { DIRECT_INTERFACE } from '../names/index.js';

const USAGE = 'usage: fastbus status [--address A | --session | --system] [--json] [NAME]';

/** A fastbus bus's direct channels (org.fastbus.Direct1.ListPairs); none from a bus without the extension. */
async function directPairs(bus: Connection): Promise<{ a: string; b: string; state: string; bytesAB: string; bytesBA: string }[]> {
  try {
    const [pairs] = await bus.callMethod({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: DIRECT_INTERFACE, member: 'ListPairs' });
    return (pairs as [string, string, string, bigint, bigint][]).map(([a, b, state, ab, ba]) => ({ a, b, state, bytesAB: ab.toString(), bytesBA: ba.toString() }));
  } catch {
    return [];
  }
}

register('status', {
  run: (argv) =>
    runCommand('status', USAGE, async () => {
      const { values, positionals } = parseCommand(argv);
      if (values.help) return void console.log(USAGE);
      const name = positionals[0] ?? 'org.freedesktop.DBus';
      return withBus(values, async (bus) => {
        const info = await peerInfo(bus, name);
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
        const pairs = name === 'org.freedesktop.DBus' ? await directPairs(bus) : [];
        if (values.json) return void printJson(name === 'org.freedesktop.DBus' ? { ...info, directPairs: pairs } : info);
        for (const [k, v] of lines) if (v !== undefined) console.log(`${k}=${v}`);
        for (const p of pairs) console.log(`DirectPair=${p.a} ${p.b} ${p.state} ${p.bytesAB} ${p.bytesBA}`);
      });
    }),
});
