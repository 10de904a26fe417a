// Builds a small C program of the benchmarks with the system's cc, once per
// run, into bench/.out (ignored by git). Used for the kernel's own speed.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (dist/bench/.. /..). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Compiles bench/<relativeSource> with -O2 and returns the binary's path. */
export function buildC(relativeSource: string, extraFlags: string[] = []): string {
  const out = path.join(repoRoot, 'bench', '.out');
  mkdirSync(out, { recursive: true });
  const source = path.join(repoRoot, 'bench', relativeSource);
  const binary = path.join(out, path.basename(relativeSource, '.c'));
  execFileSync('cc', ['-O2', '-o', binary, source, ...extraFlags], { stdio: 'inherit' });
  return binary;
}
