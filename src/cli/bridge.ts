// `fastbus bridge`: joins the bus to NATS (docs/cli-bridge.md). The bridge
// library, and with it the `nats` client, is loaded only when this command
// runs: no other command loads it. SIGTERM/SIGINT drain the bridge (its
// exported names leave the queue groups, calls in progress are answered).
import { register } from './commands.js';
import { addressOf, parseCommand, runCommand, timeoutOf, UsageError } from './cli-bus.js';

const USAGE = `usage: fastbus bridge [--address A | --session | --system] [--config FILE]
                     [--export NAME]... [--import NAME]... [--prefix P] [--timeout T]
                     [--nats URL]... [--nats-user U --nats-password P | --nats-token T |
                      --nats-nkey FILE | --nats-creds FILE]
                     [--nats-tls] [--nats-ca FILE] [--nats-cert FILE --nats-key FILE]

Joins a bus to a NATS server or cluster. --export NAME serves the bus's NAME
on NATS (bridges exporting one name share its calls); --import NAME owns NAME
on this bus and forwards its calls over NATS. Signals of an exported name are
published on NATS and re-emitted where it is imported.

  --nats URL       a server (repeat or comma-separate for a cluster); default
                   $NATS_URL, else nats://127.0.0.1:4222
  --prefix P       the first subject tokens (default 'fastbus'); fleets with
                   different prefixes never meet
  --timeout T      how long an imported call waits for its reply (default 25s)
  --config FILE    a JSON file with the same settings (see docs/bridge.md)

Environment: NATS_URL, NATS_USER, NATS_PASSWORD, NATS_TOKEN, NATS_NKEY,
NATS_CREDS, NATS_CA, NATS_CERT, NATS_KEY, FASTBUS_BRIDGE_PREFIX. Flags win
over the environment, which wins over the config file.
Prints one line 'bridge ready: ...' on stdout once it serves.`;

const OPTIONS = {
  config: { type: 'string' },
  export: { type: 'string', multiple: true },
  import: { type: 'string', multiple: true },
  prefix: { type: 'string' },
  nats: { type: 'string', multiple: true },
  'nats-user': { type: 'string' },
  'nats-password': { type: 'string' },
  'nats-token': { type: 'string' },
  'nats-nkey': { type: 'string' },
  'nats-creds': { type: 'string' },
  'nats-tls': { type: 'boolean' },
  'nats-ca': { type: 'string' },
  'nats-cert': { type: 'string' },
  'nats-key': { type: 'string' },
} as const;

register('bridge', {
  run: (argv) =>
    runCommand('bridge', USAGE, async () => {
      const { values, positionals } = parseCommand(argv, OPTIONS);
      if (values.help) return void console.log(USAGE);
      if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
      const { startBridge, resolveBridgeOptions, BridgeConnectError, BridgeOptionsError } = await import('../bridge/index.js');
      const picked = values.address !== undefined || values.session || values.system;
      const options = resolveBridgeOptions({
        bus: picked ? addressOf(values) : undefined,
        prefix: values.prefix as string | undefined,
        timeoutMs: timeoutOf(values),
        exports: values.export as string[] | undefined,
        imports: values.import as string[] | undefined,
        nats: {
          servers: (values.nats as string[] | undefined)?.flatMap((s) => s.split(',')).filter((s) => s !== ''),
          user: values['nats-user'] as string | undefined,
          password: values['nats-password'] as string | undefined,
          token: values['nats-token'] as string | undefined,
          nkeyFile: values['nats-nkey'] as string | undefined,
          credsFile: values['nats-creds'] as string | undefined,
          tls: values['nats-tls'] as boolean | undefined,
          caFile: values['nats-ca'] as string | undefined,
          certFile: values['nats-cert'] as string | undefined,
          keyFile: values['nats-key'] as string | undefined,
        },
      }, values.config as string | undefined);
      try {
        options.bus ??= addressOf({});
      } catch (e) {
        console.error(`fastbus bridge: ${(e as Error).message}`);
        return 3;
      }
      let bridge;
      try {
        bridge = await startBridge(options);
      } catch (e) {
        if (e instanceof BridgeOptionsError) throw new UsageError(e.message);
        console.error(`fastbus ${(e as Error).message}`);
        return e instanceof BridgeConnectError ? 3 : 1;
      }
      const stop = (): void => void bridge.drain();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const parts = [`bus ${bridge.uniqueName}`, `NATS ${bridge.nats.getServer()}`];
      if (options.exports?.length) parts.push(`export ${options.exports.join(',')}`);
      if (options.imports?.length) parts.push(`import ${options.imports.join(',')}`);
      console.log(`bridge ready: ${parts.join('; ')}`);
      const error = await bridge.done;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      if (error) {
        console.error(`fastbus ${error.message}`);
        return 1;
      }
      return 0;
    }),
});
