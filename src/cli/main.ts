#!/usr/bin/env node
// The `fastbus` command: argv -> library -> print. Each command lives in its
// own file, listed in commands.ts and imported only when it runs.
import { COMMANDS, loadCommand } from './commands.js';

function help(): string {
  const lines = ['usage: fastbus <command> [options]', '', 'commands:'];
  for (const [name, c] of COMMANDS) lines.push(`  ${name.padEnd(12)} ${c.summary}`);
  lines.push('', "run 'fastbus <command> --help' for a command's options");
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return 0;
  }
  const command = await loadCommand(name);
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
