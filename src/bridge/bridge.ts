// A bridge joins one bus to NATS: it exports well-known names of its bus
// (serves them on NATS) and imports names exported elsewhere (owns them on its
// bus and forwards their calls). One raw connection to the bus, one NATS
// connection; bus messages are routed by header to the exporter or importer.
import { connect as connectNats, type NatsConnection } from 'nats';
import { MessageFlags, MessageType } from '../wire/index.js';
import { ErrorNames, sessionBusAddress } from '../client/index.js';
import { BusLink } from './bus-link.js';
import { Exporter } from './exporter.js';
import { Importer } from './importer.js';
import { natsConnectionOptions, type NatsSettings } from './nats-settings.js';
import { checkBridgedName, checkPrefix, DEFAULT_PREFIX } from './subjects.js';
import { BridgeOptionsError } from './bridge-options-error.js';

/** What startBridge needs. */
export interface BridgeOptions {
  /** The local bus's D-Bus address (default: the session bus). */
  bus?: string;
  nats?: NatsSettings;
  /** Well-known names of the local bus to serve on NATS. */
  exports?: string[];
  /** Well-known names exported by other bridges, to own on the local bus. */
  imports?: string[];
  /** The first subject tokens of every subject (default 'fastbus'): fleets with different prefixes never meet. */
  prefix?: string;
  /** How long an imported call waits for its reply over NATS (default 25000 ms, as libdbus) before NoReply. */
  timeoutMs?: number;
  /** Where one-line diagnostics go (default stderr). */
  log?: (line: string) => void;
}

/** A running bridge. */
export interface Bridge {
  /** The bridge's unique name on its bus. */
  readonly uniqueName: string;
  /** The NATS connection (for its status events and server info). */
  readonly nats: NatsConnection;
  /** Resolves once the bridge has stopped: undefined after close() or drain(), else why it stopped (bus or NATS lost). */
  readonly done: Promise<Error | undefined>;
  /** Leaves the exporters' queue groups (calls go to the other exporters), answers the calls in progress, then closes. */
  drain(): Promise<void>;
  /** Closes both connections now. */
  close(): Promise<void>;
}

/** The bridge could not connect to its bus or to NATS at start. */
export class BridgeConnectError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BridgeConnectError';
  }
}

/** Connects a bus to NATS and starts serving the exported and imported names. */
export async function startBridge(options: BridgeOptions): Promise<Bridge> {
  const exportsList = [...new Set(options.exports ?? [])].map(checkBridgedName);
  const importsList = [...new Set(options.imports ?? [])].map(checkBridgedName);
  for (const n of exportsList) if (importsList.includes(n)) throw new BridgeOptionsError(`bridge: ${n} cannot be both exported and imported by one bridge`);
  if (exportsList.length === 0 && importsList.length === 0) throw new BridgeOptionsError('bridge: nothing to do: give names to export and/or import');
  const prefix = checkPrefix(options.prefix ?? DEFAULT_PREFIX);
  const timeoutMs = options.timeoutMs ?? 25000;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const busAddress = options.bus ?? sessionBusAddress();

  let bus: BusLink;
  try {
    bus = await BusLink.open(busAddress, Math.min(timeoutMs, 25000));
  } catch (e) {
    throw new BridgeConnectError(`bridge: cannot connect to the bus ${busAddress}: ${(e as Error).message}`, { cause: e });
  }
  let nc: NatsConnection;
  try {
    nc = await connectNats(natsConnectionOptions(options.nats ?? {}, `fastbus bridge ${bus.uniqueName}`));
  } catch (e) {
    bus.close();
    throw new BridgeConnectError(`bridge: cannot connect to NATS (${(options.nats?.servers ?? ['nats://127.0.0.1:4222']).join(', ')}): ${(e as Error).message}`, { cause: e });
  }
  const exporter = exportsList.length ? new Exporter(nc, bus, prefix, exportsList, timeoutMs, log) : undefined;
  const importer = importsList.length ? new Importer(nc, bus, prefix, importsList, timeoutMs, log) : undefined;

  let stopping = false;
  let finish!: (error: Error | undefined) => void;
  const done = new Promise<Error | undefined>((resolve) => (finish = resolve));
  const stop = async (error: Error | undefined): Promise<void> => {
    if (stopping) return;
    stopping = true;
    exporter?.close();
    importer?.close();
    bus.close();
    await nc.close().catch(() => undefined);
    finish(error);
  };

  bus.onMessage = (bytes, header) => {
    if (exporter?.receive(bytes, header) || importer?.receive(bytes, header)) return;
    if (header.type === MessageType.METHOD_CALL && (header.flags & MessageFlags.NO_REPLY_EXPECTED) === 0) {
      bus.replyError(header, ErrorNames.UnknownObject, `fastbus bridge: call an imported service by its well-known name (${importsList.join(', ') || 'none imported here'})`);
    }
  };
  bus.onClose = (error) => void stop(new Error(`bridge: lost the bus ${busAddress}${error ? `: ${error.message}` : ''}`));
  void nc.closed().then((error) => stop(error ? new Error(`bridge: lost NATS: ${error.message}`) : stopping ? undefined : new Error('bridge: NATS connection closed')));
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect') log(`bridge: NATS ${s.type} ${String(s.data)}`);
    }
  })().catch(() => undefined);

  try {
    await exporter?.start();
    await importer?.start();
  } catch (e) {
    await stop(undefined);
    throw e;
  }
  return {
    uniqueName: bus.uniqueName,
    nats: nc,
    done,
    drain: async () => {
      if (stopping) return;
      await exporter?.drain();
      await stop(undefined);
    },
    close: () => stop(undefined),
  };
}
