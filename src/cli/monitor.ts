// `fastbus monitor [NAME...]`: becomes a bus monitor (BecomeMonitor) and
// prints every message it sees, or those to and from the given names: one
// readable block per message, or one JSON object per line with --json.
import { MessageType, type Message } from '../wire/index.js';
import { register } from './commands.js';
import { formatBusArgs, toJson } from './bus-args.js';
import { parseCommand, printJson, runCommand, UsageError, withBus } from './cli-bus.js';

const USAGE = `usage: fastbus monitor [--address A | --session | --system] [--json] [--count N] [--match RULE]... [NAME...]
  prints messages from and to NAMEs (all messages when none given) until interrupted
  or until N messages were printed.`;

const TYPES = ['', 'method_call', 'method_return', 'error', 'signal'];

function describe(m: Message): string {
  const head = [`‣ ${TYPES[m.type] ?? `type ${m.type}`}`, `serial=${m.serial}`];
  if (m.replySerial !== undefined) head.push(`reply_serial=${m.replySerial}`);
  head.push(`sender=${m.sender ?? '-'}`, `destination=${m.destination ?? '-'}`);
  const lines = [head.join(' ')];
  const where = [];
  if (m.path !== undefined) where.push(`path=${m.path}`);
  if (m.interface !== undefined) where.push(`interface=${m.interface}`);
  if (m.member !== undefined) where.push(`member=${m.member}`);
  if (m.errorName !== undefined) where.push(`error_name=${m.errorName}`);
  if (where.length) lines.push(`  ${where.join(' ')}`);
  if (m.signature) lines.push(`  ${formatBusArgs(m.signature, m.body)}`);
  return lines.join('\n');
}

export function messageJson(m: Message): Record<string, unknown> {
  const o: Record<string, unknown> = { type: TYPES[m.type] ?? m.type, serial: m.serial, flags: m.flags };
  for (const k of ['replySerial', 'sender', 'destination', 'path', 'interface', 'member', 'errorName'] as const) if (m[k] !== undefined) o[k] = m[k];
  o.signature = m.signature ?? '';
  o.data = toJson(m.body);
  return o;
}

register('monitor', {
  run: (argv) =>
    runCommand('monitor', USAGE, async () => {
      const { values, positionals } = parseCommand(argv, { count: { type: 'string' }, match: { type: 'string', multiple: true } });
      if (values.help) return void console.log(USAGE);
      const count = values.count !== undefined ? Number(values.count) : Infinity;
      if (!(count > 0)) throw new UsageError(`--count '${values.count}' is not a positive number`);
      const rules: string[] = [...((values.match as string[] | undefined) ?? [])];
      for (const name of positionals) rules.push(`sender='${name}'`, `destination='${name}'`);
      return withBus(values, async (bus) => {
        let seen = 0;
        let done!: () => void;
        const finished = new Promise<void>((resolve) => (done = resolve));
        bus.once('close', () => done());
        const stop = (): void => done();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        await bus.becomeMonitor(rules, (m) => {
          // The bus tells the new monitor it lost its unique name: not traffic.
          if (m.type === MessageType.SIGNAL && m.member === 'NameLost' && m.destination === bus.uniqueName) return;
          if (seen >= count) return;
          seen++;
          if (values.json) printJson(messageJson(m));
          else console.log(describe(m));
          if (seen >= count) done();
        });
        console.error(`fastbus monitor: monitoring ${positionals.length ? positionals.join(', ') : 'all messages'} on ${bus.uniqueName}`);
        await finished;
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      });
    }),
});
