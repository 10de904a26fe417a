// `fastbus list`: every name on the bus (and activatable ones) with its
// owner's unique name, pid, process and user, as a table or JSON.
import { register } from './commands.js';
import { parseCommand, printJson, runCommand, withBus } from './cli-bus.js';
import { peerInfo, type PeerInfo } from './peer-info.js';

const USAGE = 'usage: fastbus list [--address A | --session | --system] [--json] [--unique | --acquired]';

register('list', {
  run: (argv) =>
    runCommand('list', USAGE, async () => {
      const { values } = parseCommand(argv, { unique: { type: 'boolean' }, acquired: { type: 'boolean' } });
      if (values.help) return void console.log(USAGE);
      return withBus(values, async (bus) => {
        const [[names], [activatable]] = await Promise.all([bus.busCall('ListNames'), bus.busCall('ListActivatableNames')]);
        let all = [...new Set([...(names as string[]), ...(activatable as string[])])].sort((a, b) => {
          const ua = a.startsWith(':'), ub = b.startsWith(':');
          if (ua !== ub) return ua ? 1 : -1;
          return a.localeCompare(b, 'en', { numeric: true });
        });
        if (values.unique) all = all.filter((n) => n.startsWith(':'));
        if (values.acquired) all = all.filter((n) => !n.startsWith(':'));
        const running = new Set(names as string[]);
        const rows = await Promise.all(all.map(async (name): Promise<PeerInfo & { activatable: boolean }> => {
          const activatable = !running.has(name);
          if (activatable) return { name, activatable };
          try {
            return { ...(await peerInfo(bus, name)), activatable };
          } catch {
            return { name, activatable }; // it left while we asked
          }
        }));
        if (values.json) return void printJson(rows);
        const table = [['NAME', 'PID', 'PROCESS', 'USER', 'CONNECTION'], ...rows.map((r) => [
          r.name, r.pid !== undefined ? String(r.pid) : '-', r.activatable ? '(activatable)' : (r.comm ?? '-'), r.user ?? (r.uid !== undefined ? String(r.uid) : '-'), r.uniqueName ?? '-',
        ])];
        const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
        for (const row of table) console.log(row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]))).join(' '));
      });
    }),
});
