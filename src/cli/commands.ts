// The table of CLI commands. A command is thin: it parses argv with
// util.parseArgs, calls the library and prints.
export interface Command {
  summary: string;
  run(argv: string[]): Promise<number>;
}

export const commands = new Map<string, Command>();

/** Registers a command under `name`. */
export function register(name: string, command: Command): void {
  commands.set(name, command);
}
