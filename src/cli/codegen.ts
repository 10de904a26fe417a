// `fastbus codegen`: TypeScript types and definitions from introspection XML,
// read from a file (or stdin with '-') or live from a service (--dest/--path).
import { readFileSync, writeFileSync } from 'node:fs';
import { generateTypeScript, parseIntrospection } from '../client/index.js';
import { register } from './commands.js';
import { parseCommand, runCommand, UsageError, withBus } from './cli-bus.js';

const USAGE = `usage: fastbus codegen [--interface NAME]... [--out FILE] [--import-from MODULE] (FILE.xml | -)
       fastbus codegen [--address A | --session | --system] --dest NAME --path PATH [--interface NAME]... [--out FILE]
  writes TypeScript: per interface a proxy type, a properties type, an implementation
  type and its defineInterface() definition. Interfaces org.freedesktop.DBus.* are left
  out unless named with --interface.`;

register('codegen', {
  run: (argv) =>
    runCommand('codegen', USAGE, async () => {
      const { values, positionals } = parseCommand(argv, {
        dest: { type: 'string' }, path: { type: 'string' }, interface: { type: 'string', multiple: true },
        out: { type: 'string' }, 'import-from': { type: 'string' },
      });
      if (values.help) return void console.log(USAGE);
      let xml: string;
      let source: string;
      if (values.dest !== undefined || values.path !== undefined) {
        if (values.dest === undefined || values.path === undefined) throw new UsageError('--dest and --path go together');
        if (positionals.length) throw new UsageError('give either a file or --dest/--path, not both');
        const [x] = await withBus(values, (bus) =>
          bus.callMethod({ destination: values.dest, path: values.path, interface: 'org.freedesktop.DBus.Introspectable', member: 'Introspect' }));
        xml = x as string;
        source = `${values.dest} ${values.path}`;
      } else {
        if (positionals.length !== 1) throw new UsageError('needs one FILE.xml (or - for stdin), or --dest and --path');
        const file = positionals[0];
        try {
          xml = readFileSync(file === '-' ? 0 : file, 'utf8');
        } catch (e) {
          throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
        }
        source = file === '-' ? 'stdin' : file.split('/').pop()!;
      }
      const ts = generateTypeScript(parseIntrospection(xml), {
        importFrom: values['import-from'] as string | undefined, interfaces: values.interface as string[] | undefined, source,
      });
      if (values.out !== undefined) writeFileSync(values.out as string, ts);
      else process.stdout.write(ts);
    }),
});
