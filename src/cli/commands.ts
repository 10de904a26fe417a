// The table of CLI commands: each name with its one-line summary and the
// module that implements it. A command is thin (argv -> library -> print);
// its module is imported only when it runs, so that `fastbus daemon` loads
// the bus and not the client and the other commands (start-up time).
export interface Command {
  run(argv: string[]): Promise<number>;
}

const registered = new Map<string, Command>();

/** Called by a command's module when it is imported. */
export function register(name: string, command: Command): void {
  registered.set(name, command);
}

/** In the order `fastbus --help` lists them. */
export const COMMANDS: ReadonlyMap<string, { summary: string; load: () => Promise<unknown> }> = new Map([
  ['daemon', { summary: 'run a D-Bus message bus (a drop-in for dbus-daemon)', load: () => import('./daemon.js') }],
  ['list', { summary: 'list the names on the bus and who owns them', load: () => import('./list.js') }],
  ['call', { summary: 'call a method and print the reply', load: () => import('./call.js') }],
  ['emit', { summary: 'emit a signal', load: () => import('./emit.js') }],
  ['monitor', { summary: 'print the messages on the bus (BecomeMonitor)', load: () => import('./monitor.js') }],
  ['introspect', { summary: "show an object's interfaces, methods, signals and properties", load: () => import('./introspect.js') }],
  ['tree', { summary: 'show the object tree of a service', load: () => import('./tree.js') }],
  ['get-property', { summary: 'print properties of an object', load: () => import('./get-property.js') }],
  ['set-property', { summary: 'set a property of an object', load: () => import('./set-property.js') }],
  ['status', { summary: "show a peer's credentials and process", load: () => import('./status.js') }],
  ['codegen', { summary: 'generate TypeScript from introspection XML', load: () => import('./codegen.js') }],
  ['bridge', { summary: 'join the bus to a NATS server or cluster (export and import names)', load: () => import('./bridge.js') }],
]);

/** The command called `name`, its module loaded; undefined for an unknown name. */
export async function loadCommand(name: string): Promise<Command | undefined> {
  const entry = COMMANDS.get(name);
  if (!entry) return undefined;
  await entry.load();
  const command = registered.get(name);
  if (!command) throw new Error(`the module of command '${name}' did not register it`);
  return command;
}
