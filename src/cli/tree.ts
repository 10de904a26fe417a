// `fastbus tree DEST [PATH]`: the object paths a service exports, found by
// introspecting from PATH (default /) down, drawn as a tree or listed as JSON.
import { type Connection } from '../client/index.js';
import { register } from './commands.js';
import { parseCommand, printJson, runCommand, UsageError, withBus } from './cli-bus.js';

const USAGE = 'usage: fastbus tree [--address A | --session | --system] [--json] DESTINATION [PATH]';

interface TreeNode {
  path: string;
  interfaces: string[];
  children: TreeNode[];
}

async function walk(bus: Connection, destination: string, path: string, depth: number): Promise<TreeNode> {
  const node = await bus.introspect(destination, path);
  const children = depth >= 64 ? [] : await Promise.all(
    node.nodes.filter((c) => c.name).map((c) => walk(bus, destination, path === '/' ? `/${c.name}` : `${path}/${c.name}`, depth + 1)),
  );
  return { path, interfaces: node.interfaces.map((i) => i.name), children };
}

function draw(n: TreeNode, prefix: string, last: boolean, top: boolean, out: string[]): void {
  out.push(top ? n.path : `${prefix}${last ? '└─ ' : '├─ '}${n.path}`);
  const next = top ? '' : prefix + (last ? '   ' : '│  ');
  n.children.forEach((c, i) => draw(c, next, i === n.children.length - 1, false, out));
}

function flatten(n: TreeNode, out: { path: string; interfaces: string[] }[]): void {
  out.push({ path: n.path, interfaces: n.interfaces });
  for (const c of n.children) flatten(c, out);
}

register('tree', {
  run: (argv) =>
    runCommand('tree', USAGE, async () => {
      const { values, positionals } = parseCommand(argv);
      if (values.help) return void console.log(USAGE);
      if (positionals.length < 1) throw new UsageError('needs DESTINATION');
      const [destination, path = '/'] = positionals;
      return withBus(values, async (bus) => {
        const root = await walk(bus, destination, path, 0);
        if (values.json) {
          const flat: { path: string; interfaces: string[] }[] = [];
          flatten(root, flat);
          return void printJson(flat);
        }
        const out: string[] = [];
        draw(root, '', true, true, out);
        console.log(out.join('\n'));
      });
    }),
});
