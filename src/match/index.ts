// Match rules: parsing, formatting, testing, and an index for fan-out.
export * from './match-rule.js';
export * from './match-index.js';
