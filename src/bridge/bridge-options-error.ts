// The error of a bridge given options it cannot use (a name both exported and
// imported, a bad subject prefix, nothing to do, two NATS credentials): a
// TypeError, as before, of its own class, so that the command line reports it
// as a usage error and any other TypeError (a bug) as what it is.

/** Options the bridge cannot use. */
export class BridgeOptionsError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = 'BridgeOptionsError';
  }
}
