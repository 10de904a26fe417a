// The fuzz loop shared by the fuzzers of text parsers (match rules,
// introspection XML): mutated valid texts and random strings of pieces go to
// `parse`, which must return or throw its own error class, nothing else; what
// parses must format and parse again to the same data.
import { isDeepStrictEqual } from 'node:util';
import { prng, type FuzzFailure } from './wire.fuzz.js';

/** A text parser to fuzz, with the texts and pieces its inputs are made of. */
export interface TextParserFuzz<T> {
  /** Valid texts, mutated into most inputs. */
  corpus: string[];
  /** Fragments inserted by mutations, and strung together at random for 5% of inputs. */
  pieces: string[];
  /** The most pieces in a random string of pieces. */
  maxPieces: number;
  /** Mutation odds: below 0.35 some characters are cut, below this a piece is inserted. */
  insertBelow: number;
  /** Below this (and above insertBelow) a character is replaced, above it the rest is cut off. */
  replaceBelow: number;
  parse(text: string): T;
  format(value: T): string;
  /** The one error class `parse` may throw. */
  error: new (...args: never[]) => Error;
}

/** One to four random edits of `text`: cuts, inserted pieces, replaced characters, a cut-off end. */
export function mutateText(text: string, f: Pick<TextParserFuzz<unknown>, 'pieces' | 'insertBelow' | 'replaceBelow'>, rnd: () => number): string {
  let s = text;
  const edits = 1 + Math.floor(rnd() * 4);
  for (let k = 0; k < edits; k++) {
    const at = Math.floor(rnd() * (s.length + 1));
    const r = rnd();
    if (r < 0.35) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rnd() * 8));
    else if (r < f.insertBelow) s = s.slice(0, at) + f.pieces[Math.floor(rnd() * f.pieces.length)] + s.slice(at);
    else if (r < f.replaceBelow) s = s.slice(0, at) + String.fromCharCode(Math.floor(rnd() * 128)) + s.slice(at + 1);
    else s = s.slice(0, at);
  }
  return s;
}

/** Runs `iterations` cases of `f` from `seed`; returns the failures (at most 10; empty when all held). */
export function fuzzTextParser<T>(f: TextParserFuzz<T>, iterations: number, seed: number): FuzzFailure[] {
  const rnd = prng(seed);
  const failures: FuzzFailure[] = [];
  for (let i = 0; i < iterations && failures.length < 10; i++) {
    const input = rnd() < 0.05
      ? Array.from({ length: Math.floor(rnd() * f.maxPieces) }, () => f.pieces[Math.floor(rnd() * f.pieces.length)]).join('')
      : mutateText(f.corpus[Math.floor(rnd() * f.corpus.length)], f, rnd);
    let value: T;
    try {
      value = f.parse(input);
    } catch (e) {
      if (!(e instanceof f.error)) failures.push({ input: JSON.stringify(input), problem: `threw ${(e as Error)?.name}: ${(e as Error)?.message}` });
      continue;
    }
    let text: string | undefined;
    try {
      text = f.format(value);
      if (!isDeepStrictEqual(f.parse(text), value)) failures.push({ input: JSON.stringify(input), problem: `formats to ${JSON.stringify(text)}, which parses to different data` });
    } catch (e) {
      failures.push({ input: JSON.stringify(input), problem: `${text === undefined ? 'does not format' : 'its formatted form does not parse'}: ${(e as Error)?.message}` });
    }
  }
  return failures;
}
