// D-Bus server addresses (specification, "Server Addresses"): a `;`-separated
// list of alternatives, each `transport:key=value,key=value`. Values escape
// every byte outside [-0-9A-Za-z_/.\*] as %XX. Parsing validates the keys each
// transport needs, so a bad address is a clear error before any socket exists.

/** One alternative of a bus address: the transport name and its key/value pairs, unescaped. */
export interface BusAddress {
  transport: string;
  params: Record<string, string>;
}

/** A bus address that cannot be parsed or used, with the offending text. */
export class BusAddressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BusAddressError';
  }
}

const OPTIONALLY_ESCAPED = /^[-0-9A-Za-z_/.\\*]$/;

/** Escapes a value for an address: bytes outside [-0-9A-Za-z_/.\*] become %XX. */
export function escapeAddressValue(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += byte < 0x80 && OPTIONALLY_ESCAPED.test(c) ? c : `%${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** Reverses escapeAddressValue; throws BusAddressError on a bad %XX sequence or a raw reserved byte. */
export function unescapeAddressValue(value: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '%') {
      const hex = value.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new BusAddressError(`bad escape '%${hex}' in address value '${value}'`);
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c === ',' || c === ';' || c === '=' || c === ':') {
      throw new BusAddressError(`unescaped '${c}' in address value '${value}'`);
    } else {
      for (const b of Buffer.from(c, 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

const UNIX_KINDS = ['path', 'abstract', 'dir', 'tmpdir', 'runtime'];

function validate(a: BusAddress, text: string): void {
  const p = a.params;
  if (a.transport === 'unix') {
    const kinds = UNIX_KINDS.filter((k) => p[k] !== undefined);
    if (kinds.length !== 1) {
      throw new BusAddressError(`unix address '${text}' needs exactly one of ${UNIX_KINDS.join('=, ')}= (found ${kinds.length})`);
    }
    if (p.runtime !== undefined && p.runtime !== 'yes') throw new BusAddressError(`unix address '${text}': runtime= must be 'yes'`);
  } else if (a.transport === 'tcp') {
    if (p.port !== undefined && !/^\d+$/.test(p.port)) throw new BusAddressError(`tcp address '${text}': port '${p.port}' is not a number`);
    if (p.port !== undefined && Number(p.port) > 65535) throw new BusAddressError(`tcp address '${text}': port ${p.port} is out of range`);
    if (p.family !== undefined && p.family !== 'ipv4' && p.family !== 'ipv6') {
      throw new BusAddressError(`tcp address '${text}': family must be ipv4 or ipv6, not '${p.family}'`);
    }
  }
  if (p.guid !== undefined && !/^[0-9a-fA-F]{32}$/.test(p.guid)) throw new BusAddressError(`address '${text}': guid must be 32 hex digits`);
}

/**
 * Parses a bus address into its alternatives, in order. Throws
 * BusAddressError for a syntax error, a duplicate key or a unix/tcp
 * alternative missing what it needs. Unknown transports are kept (a caller
 * skips what it cannot use).
 */
export function parseBusAddress(text: string): BusAddress[] {
  const out: BusAddress[] = [];
  for (const part of text.split(';')) {
    if (part === '') continue;
    const colon = part.indexOf(':');
    if (colon <= 0) throw new BusAddressError(`address '${part}' has no 'transport:' prefix`);
    const transport = part.slice(0, colon);
    const params: Record<string, string> = Object.create(null);
    const rest = part.slice(colon + 1);
    if (rest !== '') {
      for (const pair of rest.split(',')) {
        const eq = pair.indexOf('=');
        if (eq <= 0) throw new BusAddressError(`address '${part}': '${pair}' is not key=value`);
        const key = pair.slice(0, eq);
        if (params[key] !== undefined) throw new BusAddressError(`address '${part}': key '${key}' appears twice`);
        params[key] = unescapeAddressValue(pair.slice(eq + 1));
      }
    }
    const a = { transport, params };
    validate(a, part);
    out.push(a);
  }
  if (out.length === 0) throw new BusAddressError(`empty bus address '${text}'`);
  return out;
}

/** Formats addresses back to text, escaping values; the inverse of parseBusAddress. */
export function formatBusAddress(addresses: BusAddress | BusAddress[]): string {
  const list = Array.isArray(addresses) ? addresses : [addresses];
  return list
    .map((a) => `${a.transport}:${Object.entries(a.params).map(([k, v]) => `${k}=${escapeAddressValue(v)}`).join(',')}`)
    .join(';');
}
