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
