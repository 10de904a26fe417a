// The benchmark harness: groups (bench/<group>/index.ts) return tables of
// repeated samples; the harness prints medians, spread and ratios against a
// baseline row measured in the same run, draws an SVG chart and keeps the
// latest table of each group in docs/BENCHMARKS.md.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';

/** One contender of a table: a sample per repetition, in `unit`. */
export interface Row {
  label: string;
  samples: number[];
  unit: string;
  /** true for throughput (GB/s, msgs/s), false for times (µs). */
  higherIsBetter: boolean;
}

/** A table compares rows with one row named as the baseline for ratios. */
export interface Table {
  title: string;
  rows: Row[];
  /** Label of the row that ratios are taken against (the peer). */
  baseline: string;
  note?: string;
}

export interface GroupResult {
  tables: Table[];
  notes?: string[];
}

export interface BenchContext {
  /** Repetitions per measurement. */
  repeat: number;
  /** A short run (smaller sizes, fewer repetitions). */
  quick: boolean;
  /** Prints a progress line to stderr. */
  progress(message: string): void;
}

export type Group = (ctx: BenchContext) => Promise<GroupResult>;

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1e9) return `${(x / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(x / 1e3).toFixed(1)}k`;
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/** The ratio of a row to the baseline, > 1 meaning better. */
export function ratio(row: Row, base: Row): number {
  const r = median(row.samples);
  const b = median(base.samples);
  return row.higherIsBetter ? r / b : b / r;
}

/** A markdown table: median, spread (min–max) and ratio to the baseline. */
export function renderTable(t: Table): string {
  const base = t.rows.find((r) => r.label === t.baseline) ?? t.rows[0];
  const lines = [
    `**${t.title}**${t.note ? ` — ${t.note}` : ''}`,
    '',
    `| | median | spread (min–max) | n | vs ${base.label} |`,
    '|---|---:|---:|---:|---:|',
  ];
  for (const r of t.rows) {
    const lo = Math.min(...r.samples);
    const hi = Math.max(...r.samples);
    lines.push(`| ${r.label} | ${fmt(median(r.samples))} ${r.unit} | ${fmt(lo)}–${fmt(hi)} | ${r.samples.length} | ${ratio(r, base).toFixed(2)}x |`);
  }
  return lines.join('\n');
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

/** An SVG chart: per table, one bar per row, the ratio to its baseline (log scale). */
export function renderSvg(title: string, tables: Table[]): string {
  const barH = 16, gap = 4, labelW = 330, plotW = 420, left = 10;
  let y = 40;
  const parts: string[] = [];
  const maxRatio = Math.max(2, ...tables.flatMap((t) => {
    const base = t.rows.find((r) => r.label === t.baseline) ?? t.rows[0];
    return t.rows.map((r) => ratio(r, base));
  }));
  const minRatio = Math.min(0.5, ...tables.flatMap((t) => {
    const base = t.rows.find((r) => r.label === t.baseline) ?? t.rows[0];
    return t.rows.map((r) => ratio(r, base)).filter((x) => x > 0);
  }));
  const lo = Math.log10(minRatio), hi = Math.log10(maxRatio);
  const xOf = (v: number) => left + labelW + ((Math.log10(Math.max(v, minRatio)) - lo) / (hi - lo)) * plotW;
  for (const t of tables) {
    const base = t.rows.find((r) => r.label === t.baseline) ?? t.rows[0];
    parts.push(`<text x="${left}" y="${y}" font-weight="bold">${escapeXml(t.title)} (ratio to ${escapeXml(base.label)}, higher is better)</text>`);
    y += 8;
    for (const r of t.rows) {
      const v = ratio(r, base);
      const x0 = xOf(1), x1 = xOf(v);
      const color = r === base ? '#888' : v >= 1 ? '#2a7' : '#c44';
      parts.push(`<text x="${left}" y="${y + barH - 4}">${escapeXml(r.label)}</text>`);
      parts.push(`<rect x="${Math.min(x0, x1)}" y="${y}" width="${Math.max(1, Math.abs(x1 - x0))}" height="${barH}" fill="${color}"/>`);
      parts.push(`<text x="${Math.max(x0, x1) + 4}" y="${y + barH - 4}">${v.toFixed(2)}x</text>`);
      y += barH + gap;
    }
    parts.push(`<line x1="${xOf(1)}" y1="${y - (barH + gap) * t.rows.length - 2}" x2="${xOf(1)}" y2="${y}" stroke="#000"/>`);
    y += 24;
  }
  const w = left + labelW + plotW + 80;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${y}" font-family="sans-serif" font-size="12">\n` +
    `<rect width="100%" height="100%" fill="#fff"/>\n<text x="${left}" y="20" font-size="15" font-weight="bold">${escapeXml(title)}</text>\n` +
    parts.join('\n') + '\n</svg>\n';
}

/** The machine, for the record beside each table. */
export function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${os.cpus().length} x ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}`;
}

/** Replaces (or appends) the group's section of docs/BENCHMARKS.md. */
export function updateDocs(docPath: string, group: string, section: string): void {
  const start = `<!-- bench:${group}:start -->`;
  const end = `<!-- bench:${group}:end -->`;
  let text = existsSync(docPath) ? readFileSync(docPath, 'utf8') : '# Benchmarks\n\nMade by `npm run bench`; each section is replaced by the latest run of its group.\n';
  const block = `${start}\n${section}\n${end}`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  text = i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + end.length) : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(docPath, text);
}
