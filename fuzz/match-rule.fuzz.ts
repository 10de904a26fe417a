// Fuzzer for the match-rule parser (AddMatch text comes from any client):
// mutated valid rules and random text go to parseMatchRule. Each must return
// a rule or throw MatchRuleError, nothing else; a rule that parses must
// format and parse again to the same rule.
import { formatMatchRule, MatchRuleError, parseMatchRule } from '../src/match/match-rule.js';
import { fuzzTextParser } from './text-fuzz.js';
import type { FuzzFailure } from './wire.fuzz.js';

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

/** Runs `iterations` cases from `seed`; returns the failures (empty when all held). */
export function fuzzMatchRule(iterations: number, seed: number): FuzzFailure[] {
  return fuzzTextParser({
    corpus: matchRuleCorpus(), pieces: PIECES, maxPieces: 24, insertBelow: 0.8, replaceBelow: 1,
    parse: parseMatchRule, format: formatMatchRule, error: MatchRuleError,
  }, iterations, seed);
}
