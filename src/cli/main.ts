#!/usr/bin/env node
// The `fastbus` command: argv -> library -> print. Each command lives in its
// own file and registers itself in `commands`.
import { commands } from './commands.js';
import './daemon.js';
import './list.js';
import './call.js';
import './emit.js';
import './monitor.js';
import './introspect.js';
import './tree.js';
import './get-property.js';
import './set-property.js';
import './status.js';
import './codegen.js';
import './bridge.js';

function help(): string {
  const lines = ['usage: fastbus <command> [options]', '', 'commands:'];
  for (const [name, c] of commands) lines.push(`  ${name.padEnd(12)} ${c.summary}`);
  lines.push('', "run 'fastbus <command> --help' for a command's options");
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return 0;
  }
  const command = commands.get(name);
  if (!command) {
    console.error(`fastbus: unknown command '${name}'\n\n${help()}`);
    return 2;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (error: unknown) => {
    console.error(`fastbus: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
