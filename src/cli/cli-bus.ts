// What every bus command shares: the --address/--session/--system/--json/
// --timeout options, opening the connection, and turning failures into one
// line on stderr and an exit code (see docs/cli-*.md for the table).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SystemError, ProtocolError } from '../errors.js';
import { BusAddressError } from '../transport/index.js';
import { IntrospectionError } from '../client/introspection.js';
import { connect, sessionBusAddress, systemBusAddress, DBusError, TimeoutError, AbortError, DisconnectedError, type Connection } from '../client/index.js';
import { ArgumentError } from './bus-args.js';

/** Exit codes of the bus commands. */
export const ExitCode = { OK: 0, REMOTE_ERROR: 1, USAGE: 2, CONNECT: 3, TIMEOUT: 4 } as const;

export const busOptions = {
  address: { type: 'string' },
  session: { type: 'boolean' },
  system: { type: 'boolean' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** A usage error: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface BusValues {
  address?: string;
  session?: boolean;
  system?: boolean;
  json?: boolean;
  timeout?: string;
}

/** The address the options select: --address, else --system, else the session bus. */
export function addressOf(v: BusValues): string {
  if ([v.address !== undefined, v.session, v.system].filter(Boolean).length > 1) throw new UsageError('give only one of --address, --session, --system');
  if (v.address !== undefined) return v.address;
  if (v.system) return systemBusAddress();
  return sessionBusAddress();
}

/** The --timeout value in ms (seconds accepted with an 's' suffix). */
export function timeoutOf(v: BusValues): number | undefined {
  if (v.timeout === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(v.timeout);
  if (!m) throw new UsageError(`--timeout '${v.timeout}' is not a duration (e.g. 500ms, 2s)`);
  return m[2] === 's' ? Number(m[1]) * 1000 : Number(m[1]);
}

/** Opens the bus the options select; connection failures carry exit code 3. */
export async function openBus(v: BusValues): Promise<Connection> {
  const timeoutMs = timeoutOf(v);
  let address: string;
  try {
    address = addressOf(v);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new ConnectError(v.system ? 'the system bus' : 'the session bus', e as Error);
  }
  try {
    // A command makes a few calls and leaves: a direct channel would never pay for the round trip that asks for it.
    return await connect(address, { timeoutMs, connectTimeoutMs: timeoutMs ?? 10000, direct: 'off' });
  } catch (e) {
    throw new ConnectError(address, e as Error);
  }
}

/** Opens the bus the options select, runs `body` with it, and closes it however `body` ends. */
export async function withBus<T>(v: BusValues, body: (bus: Connection) => Promise<T>): Promise<T> {
  const bus = await openBus(v);
  try {
    return await body(bus);
  } finally {
    bus.close();
  }
}

/** Connecting failed; `address` is the bus address, or which bus when none could be found. */
class ConnectError extends Error {
  constructor(readonly address: string, cause: Error) {
    super(`cannot connect to ${address}: ${cause.message}`, { cause });
    this.name = 'ConnectError';
  }
}

/** Parses argv with the shared bus options plus `extra`; a parse failure is a UsageError. */
export function parseCommand(argv: string[], extra: ParseArgsConfig['options'] = {}): { values: BusValues & Record<string, any>; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options: { ...busOptions, ...extra }, allowPositionals: true, strict: true });
    return { values: r.values as BusValues & Record<string, any>, positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

const HINTS: Record<string, string> = {
  'org.freedesktop.DBus.Error.ServiceUnknown': 'unknown name: nothing owns it and it cannot be activated',
  'org.freedesktop.DBus.Error.NameHasNoOwner': 'unknown name: nothing owns it',
  'org.freedesktop.DBus.Error.AccessDenied': 'access denied by the bus policy or the service',
  'org.freedesktop.DBus.Error.UnknownMethod': 'no such method',
  'org.freedesktop.DBus.Error.UnknownObject': 'no such object path',
  'org.freedesktop.DBus.Error.UnknownInterface': 'no such interface',
  'org.freedesktop.DBus.Error.UnknownProperty': 'no such property',
  'org.freedesktop.DBus.Error.InvalidArgs': 'invalid arguments',
  'org.freedesktop.DBus.Error.NoReply': 'the peer left or did not answer',
};

/** Runs a command body, printing a failure as one line and returning its exit code. */
export async function runCommand(name: string, usage: string, body: () => Promise<number | void>): Promise<number> {
  try {
    return (await body()) ?? ExitCode.OK;
  } catch (e) {
    const say = (m: string): void => console.error(`fastbus ${name}: ${m}`);
    if (e instanceof UsageError || e instanceof ArgumentError) {
      say(e.message);
      console.error(usage);
      return ExitCode.USAGE;
    }
    if (e instanceof DBusError) {
      const hint = HINTS[e.name];
      say(`${hint ? `${hint}: ` : ''}${e.message} (${e.name})`);
      return ExitCode.REMOTE_ERROR;
    }
    if (e instanceof TimeoutError) {
      say(`timeout: ${e.message}`);
      return ExitCode.TIMEOUT;
    }
    if (e instanceof ConnectError || e instanceof BusAddressError) {
      say(e.message);
      return ExitCode.CONNECT;
    }
    if (e instanceof DisconnectedError || e instanceof AbortError || e instanceof SystemError || e instanceof ProtocolError || e instanceof IntrospectionError || e instanceof TypeError) {
      say(e.message);
      return ExitCode.REMOTE_ERROR;
    }
    throw e;
  }
}

/** Writes JSON (bigints already converted by toJson). */
export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v)}\n`);
}
