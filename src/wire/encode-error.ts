// The error an encoder throws when a JavaScript value does not fit its
// signature or a message misses what its type requires. It is the caller's
// fault, not a peer's, so it is a TypeError, with the place of the bad value.

/** A value does not match its signature; `where` locates it (`body[2][3]["x"]`). */
export class EncodeError extends TypeError {
  /** Where the bad value sits, e.g. `body[2][3]["x"]`; empty for message-level errors. */
  where: string;
  /** The problem alone, without the location. */
  readonly problem: string;
  constructor(problem: string, where = '') {
    super(where ? `${where}: ${problem}` : problem);
    this.name = 'EncodeError';
    this.where = where;
    this.problem = problem;
  }

  /** Prefixes a location step while the error travels up through containers. */
  within(step: string): this {
    this.where = step + this.where;
    this.message = `${this.where}: ${this.problem}`;
    return this;
  }
}

/** A JavaScript value in a few words, for an EncodeError. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return v.length > 40 ? `string ${JSON.stringify(v.slice(0, 40))}…` : `string ${JSON.stringify(v)}`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (Array.isArray(v)) return `array of ${v.length}`;
  if (v instanceof Uint8Array) return `${v.constructor.name} of ${v.length} bytes`;
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

/** The error for a value that is not the `expected` type. */
export function mismatch(expected: string, v: unknown): EncodeError {
  return new EncodeError(`expected ${expected}, got ${describeValue(v)}`);
}
