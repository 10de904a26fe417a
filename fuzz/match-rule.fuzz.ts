// Fuzzer for the match-rule parser (AddMatch text comes from any client):
// mutated valid rules and random text go to parseMatchRule. Each must return
// a rule or throw MatchRuleError, nothing else; a rule that parses must
// format and parse again to the same rule.
import { isDeepStrictEqual } from 'node:util';
import { formatMatchRule, MatchRuleError, parseMatchRule } from '../src/match/match-rule.js';
import { prng } from './wire.fuzz.js';

/** Valid rules of the shapes clients send (dbus-python, GDBus, sd-bus, busctl). */
export function matchRuleCorpus(): string[] {
  return [
    "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='com.example.Foo'",
    "type='signal',path_namespace='/org/example',arg0namespace='org.example'",
    "type='method_call',eavesdrop='true',destination=':1.42'",
    "arg1path='/aa/bb/',arg2='x'\\''y',path='/a/b'",
    "interface='a.b',member='C',arg63='last'",
    '',
  ];
}

const PIECES = ["'", ',', '=', '\\', "\\'", 'type=', 'sender=', 'path=', 'path_namespace=', 'arg0=', 'arg63=', 'arg64=', 'arg3path=', 'arg0namespace=', 'eavesdrop=', "'true'", "'signal'", "'/'", "'a.b'", "':1.7'", ' ', '\0', 'é', 'x'.repeat(300)];

function mutate(rule: string, rnd: () => number): string {
  let s = rule;
  const edits = 1 + Math.floor(rnd() * 4);
  for (let k = 0; k < edits; k++) {
    const at = Math.floor(rnd() * (s.length + 1));
    const r = rnd();
    if (r < 0.35) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rnd() * 8));
    else if (r < 0.8) s = s.slice(0, at) + PIECES[Math.floor(rnd() * PIECES.length)] + s.slice(at);
    else s = s.slice(0, at) + String.fromCharCode(Math.floor(rnd() * 128)) + s.slice(at + 1);
  }
  return s;
}

/** Runs `iterations` cases from `seed`; returns the failures (empty when all held). */
export function fuzzMatchRule(iterations: number, seed: number): Array<{ input: string; problem: string }> {
  const rnd = prng(seed);
  const corpus = matchRuleCorpus();
  const failures: Array<{ input: string; problem: string }> = [];
  for (let i = 0; i < iterations && failures.length < 10; i++) {
    const input = rnd() < 0.05
      ? Array.from({ length: Math.floor(rnd() * 24) }, () => PIECES[Math.floor(rnd() * PIECES.length)]).join('')
      : mutate(corpus[Math.floor(rnd() * corpus.length)], rnd);
    let rule;
    try {
      rule = parseMatchRule(input);
    } catch (e) {
      if (!(e instanceof MatchRuleError)) failures.push({ input: JSON.stringify(input), problem: `threw ${(e as Error)?.name}: ${(e as Error)?.message}` });
      continue;
    }
    try {
      const again = parseMatchRule(formatMatchRule(rule));
      if (!isDeepStrictEqual(again, rule)) failures.push({ input: JSON.stringify(input), problem: `formats to ${JSON.stringify(formatMatchRule(rule))}, which parses differently` });
    } catch (e) {
      failures.push({ input: JSON.stringify(input), problem: `its formatted form does not parse: ${(e as Error)?.message}` });
    }
  }
  return failures;
}
