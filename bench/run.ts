// `npm run bench [-- group ...] [--quick] [--repeat N] [--no-docs]`: runs the
// benchmark groups (bench/<group>/index.ts), prints their tables, and keeps
// the latest tables and charts in docs/.
import { existsSync } from 'node:fs';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machine, renderSvg, renderTable, updateDocs, type BenchContext, type Group } from './harness.js';

const GROUPS = ['cma', 'wire', 'channel', 'broker', 'client', 'bridge', 'direct'];

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      quick: { type: 'boolean', default: false },
      repeat: { type: 'string' },
      'no-docs': { type: 'boolean', default: false },
    },
  });
  const wanted = positionals.length ? positionals : GROUPS;
  for (const g of wanted) if (!GROUPS.includes(g)) throw new Error(`unknown benchmark group '${g}' (groups: ${GROUPS.join(', ')})`);
  const ctx: BenchContext = {
    quick: values.quick!,
    repeat: values.repeat ? Number(values.repeat) : values.quick ? 3 : 7,
    progress: (m) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`),
  };
  for (const group of wanted) {
    const file = path.join(here, group, 'index.js');
    if (!existsSync(file)) {
      ctx.progress(`${group}: not built yet, skipped`);
      continue;
    }
    ctx.progress(`${group}: starting`);
    const mod = (await import(file)) as { run: Group };
    const result = await mod.run(ctx);
    const command = `npm run bench -- ${group}${values.quick ? ' --quick' : ''}${values.repeat ? ` --repeat ${values.repeat}` : ''}`;
    const tables = result.tables.map(renderTable).join('\n\n');
    const svgName = `bench-${group}.svg`;
    const section = [
      `## ${group}`,
      '',
      `Command: \`${command}\` — ${new Date().toISOString().slice(0, 10)}, ${machine()}; ${ctx.repeat} repetitions, medians.`,
      '',
      tables,
      '',
      ...(result.notes?.length ? [...result.notes.map((n) => `- ${n}`), ''] : []),
      `![${group} chart](${svgName})`,
    ].join('\n');
    console.log(`\n${section}\n`);
    if (!values['no-docs']) {
      writeFileSync(path.join(root, 'docs', svgName), renderSvg(`fastbus ${group} — ${command}`, result.tables));
      updateDocs(path.join(root, 'docs', 'BENCHMARKS.md'), group, section);
    }
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exitCode = 1;
});
