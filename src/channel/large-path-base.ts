// What every large-payload path (arena, CMA, memfd, chunks) holds: the parts
// of its channel it sends, receives and passes fds through.
import type { ChannelCore } from './channel-core.js';
import type { ControlSocket } from './control-socket.js';
import type { Inbound } from './inbound.js';
import type { LargePayloads, PathParts } from './large-payloads.js';
import type { Outbound } from './outbound.js';

export abstract class LargePathBase {
  protected readonly core: ChannelCore;
  protected readonly out: Outbound;
  protected readonly inb: Inbound;
  protected readonly socket: ControlSocket;
  protected readonly large: LargePayloads;

  constructor(parts: PathParts) {
    this.core = parts.core;
    this.out = parts.out;
    this.inb = parts.inb;
    this.socket = parts.socket;
    this.large = parts.large;
  }
}
