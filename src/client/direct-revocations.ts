// The switch in reverse (docs/direct.md, "Monitors"): when the bus revokes a
// channel (a monitor or an eavesdropper attached), each end writes an end
// frame after what it wrote on the channel, then sends its marker (Revoked)
// through the bus, which passes it to the other end (PeerRevoked) behind what
// the end sent through the bus before. The receiver holds the peer's messages
// from the bus from that marker until it has read the end frame, so nothing
// the peer sends through the bus after a revocation overtakes what it sent on
// the channel. Bounces may follow an end frame; each end's fin frame says it
// bounces nothing more, and the channel closes once both ends are done.
import type { Message } from '../wire/index.js';
import { DIRECT_INTERFACE } from '../names/index.js';
import type { DirectPeer } from './direct-peer.js';

const DBUS = 'org.freedesktop.DBus';

/** What revocations need from the direct peers. */
export interface RevocationHost {
  /** Tells the bus something: a Direct1 call that expects no reply. */
  tellBus(member: string, signature: string, body: unknown[]): void;
  /** Handles a message from the bus that was held while a revoked channel drained. */
  redeliver(msg: Message): void;
  /** Stops routing to `p` (it no longer takes new traffic). */
  unroute(p: DirectPeer): void;
}

/** The revoked channels of one connection. */
export class DirectRevocations {
  /** Peers whose channel was revoked, by unique name (the last one each): replies to calls made on it may still come, and its PeerGone fails them. */
  private readonly retired = new Map<string, DirectPeer>();
  /** Revoked peers whose end frame we wait for, holding their messages from the bus. */
  private readonly draining = new Map<string, DirectPeer>();

  constructor(private readonly host: RevocationHost) {}

  /** The retired peer `name`, if any. */
  peer(name: string): DirectPeer | undefined {
    return this.retired.get(name);
  }

  /** Forgets the retired peer `name` (it left the bus) and returns it. */
  take(name: string): DirectPeer | undefined {
    const p = this.retired.get(name);
    this.retired.delete(name);
    return p;
  }

  /** Every retired peer, for close. */
  all(): IterableIterator<DirectPeer> {
    return this.retired.values();
  }

  /** Holds a message from the bus that must wait for a draining peer's end frame; true when held. */
  hold(msg: Message): boolean {
    if (this.draining.size === 0) return false;
    const p = this.draining.get(this.heldKey(msg) ?? '');
    if (p === undefined) return false;
    p.held!.push(msg);
    return true;
  }

  /**
   * Which draining peer a message from the bus waits for: one it sent, the
   * extension's notices about it, and the changes of names it owned or owns
   * (its NameOwnerChanged comes after what it sent on the channel).
   */
  private heldKey(msg: Message): string | undefined {
    if (msg.sender !== DBUS) return msg.sender;
    if (msg.interface === DIRECT_INTERFACE) return msg.body[0] as string;
    if (msg.member === 'NameOwnerChanged' && msg.interface === DBUS) {
      const from = msg.body[1] as string;
      return this.draining.has(from) ? from : (msg.body[2] as string);
    }
    return undefined;
  }

  /**
   * Our side (the bus's Revoke, or its flag seen at a send): nothing more for
   * the peer goes on the channel. Our end frame follows what we wrote there,
   * then our marker goes to the bus.
   */
  revoke(p: DirectPeer): void {
    if (p.out === 'ended' || p.out === 'closed') return;
    this.host.unroute(p);
    this.retired.set(p.uniqueName, p);
    if (p.out === 'direct' && p.channel.isOpen) void p.channel.send({ t: 'end' }).catch(() => undefined);
    p.out = 'ended';
    this.host.tellBus('Revoked', 's', [p.uniqueName]);
    this.finish(p);
  }

  /** The peer's marker: its messages from the bus wait for its end frame, if it wrote on the channel. */
  peerRevoked(p: DirectPeer): void {
    if (p.in === 'open') {
      p.in = 'draining';
      p.held = [];
      this.draining.set(p.uniqueName, p);
    } else if (p.in === 'waiting') {
      // It never switched: nothing of its will come on the channel.
      p.in = 'closed';
      this.finish(p);
    }
  }

  /** The peer's end frame was read (or its channel closed): its held messages from the bus follow. */
  peerEnded(p: DirectPeer): void {
    const held = p.held;
    p.held = undefined;
    p.in = 'closed';
    if (this.draining.get(p.uniqueName) === p) this.draining.delete(p.uniqueName);
    if (held !== undefined) for (const m of held) this.host.redeliver(m);
    this.finish(p);
  }

  /** The peer's fin frame was read: it bounces nothing more. */
  peerFinished(p: DirectPeer): void {
    p.peerFin = true;
    this.finish(p);
  }

  /**
   * A revoked channel closes once neither end can write anything the other
   * still needs: both end frames, then each end's fin frame (written once it
   * read the other's end: it bounces nothing more).
   */
  private finish(p: DirectPeer): void {
    if (p.out !== 'ended' || p.in !== 'closed' || !p.channel.isOpen) return;
    if (p.switchedOnce && !p.finSent) {
      p.finSent = true;
      void p.channel.send({ t: 'fin' }).catch(() => undefined);
    }
    if (p.peerSwitched && !p.peerFin) return;
    void p.channel.close();
  }
}
