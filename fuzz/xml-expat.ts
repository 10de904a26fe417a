// Differential check of the XML reader against expat itself (through Python's
// pyexpat, the same library dbus-daemon reads its configuration with): for
// the same documents, both must accept or both refuse, and what they accept
// must read to the same tree. Documents the reader refuses on purpose
// (parameter entities, <!ATTLIST> defaults, encodings other than UTF-8,
// its nesting and expansion bounds)
// are left out. Needs python3 with pyexpat; `expatAvailable()` says.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { readXml, XmlError } from '../src/util/xml-reader.js';
import { mutateText } from './text-fuzz.js';
import { plain, xmlReaderFuzz, type PlainElement } from './xml-reader.fuzz.js';
import { prng, type FuzzFailure } from './wire.fuzz.js';

const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fuzz/expat-tree.py');
const REFUSED_ON_PURPOSE = /parameter entity|ATTLIST|nest deeper|expansion exceeds|encoding/;

type ExpatTree = [string, Record<string, string>, string, ExpatTree[]] | { error: string; line: number };

function fromExpat(t: [string, Record<string, string>, string, ExpatTree[]]): PlainElement {
  const attributes: Record<string, string> = {};
  for (const k of Object.keys(t[1]).sort()) attributes[k] = t[1][k];
  return { name: t[0], attributes, text: t[2], children: (t[3] as Array<[string, Record<string, string>, string, ExpatTree[]]>).map(fromExpat) };
}

/** Whether python3 with pyexpat can be run here. */
export function expatAvailable(): boolean {
  return spawnSync('python3', ['-c', 'import pyexpat'], { stdio: 'ignore' }).status === 0;
}

/** Reads `docs` with expat and with readXml; returns where they differ (at most 10). */
export function compareWithExpat(docs: string[]): FuzzFailure[] {
  const r = spawnSync('python3', [script], { input: docs.map((d) => JSON.stringify(d)).join('\n') + '\n', maxBuffer: 1 << 30, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`expat-tree.py failed: ${r.stderr}`);
  const answers = r.stdout.split('\n');
  const failures: FuzzFailure[] = [];
  for (let k = 0; k < docs.length && failures.length < 10; k++) {
    const expat = JSON.parse(answers[k]) as ExpatTree;
    let ours: PlainElement | XmlError;
    try {
      ours = plain(readXml(docs[k]));
    } catch (e) {
      if (!(e instanceof XmlError)) throw e;
      if (REFUSED_ON_PURPOSE.test(e.reason)) continue;
      ours = e;
    }
    const input = JSON.stringify(docs[k]);
    if (Array.isArray(expat)) {
      if (ours instanceof XmlError) failures.push({ input, problem: `expat reads it, readXml refuses: ${ours.message}` });
      else if (!isDeepStrictEqual(ours, fromExpat(expat))) failures.push({ input, problem: `trees differ: expat ${JSON.stringify(fromExpat(expat))}, readXml ${JSON.stringify(ours)}` });
    } else if (!(ours instanceof XmlError)) failures.push({ input, problem: `expat refuses it (${expat.error}, line ${expat.line}), readXml reads it` });
  }
  return failures;
}

/** `iterations` fuzz documents from `seed`, as the reader's fuzzer makes them. */
export function fuzzDocuments(iterations: number, seed: number): string[] {
  const rnd = prng(seed);
  const f = xmlReaderFuzz;
  return Array.from({ length: iterations }, () => (rnd() < 0.05
    ? Array.from({ length: Math.floor(rnd() * f.maxPieces) }, () => f.pieces[Math.floor(rnd() * f.pieces.length)]).join('')
    : mutateText(f.corpus[Math.floor(rnd() * f.corpus.length)], f, rnd)));
}
