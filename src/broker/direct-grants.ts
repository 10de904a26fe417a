// The bus's side of the direct path (docs/direct.md): the org.fastbus.Direct1
// extension. Connections that asked (Enable) and talk to each other through
// the bus get a channel (segment, doorbells, socketpair) with each other's
// identity (Grant); once both ends opened it (Accept), each is told Go, sends
// its marker (Switched) through the bus and uses the channel for that peer,
// and the other end is told (PeerSwitched). Grants are made only while no
// monitor or eavesdropper is attached and no send/receive rule is configured;
// one that attaches revokes every channel (revokeAll): the switch in reverse,
// each end's marker (Revoked) passing through the bus as PeerRevoked.
// The extension's messages are in direct-interface.ts, a pair's record in
// direct-pair.ts, the making of a channel in direct-channel.ts.
import type { DecodedMessage, Message } from '../wire/index.js';
import type { BroadcastNeeds } from './broadcast-needs.js';
import { DEFAULT_DIRECT, type DirectSettings } from './broker-settings.js';
import type { Connection } from './connection.js';
import { makeDirectChannel, sendGrants } from './direct-channel.js';
import { DirectInterface } from './direct-interface.js';
import { bit, newPair, type DirectPair, type PairInfo } from './direct-pair.js';
import { ProcessEnds } from './direct-process-ends.js';
import type { SharedFds } from './shared-fds.js';

/** What grants need from the bus. */
export interface GrantsHost {
  /** Whether each capable sender's broadcasts are needed on the bus (its word). */
  readonly broadcasts: BroadcastNeeds;
  sendFromBus(target: Connection, m: Message, fds?: SharedFds): void;
  replyError(conn: Connection, call: DecodedMessage, errorName: string, text: string): void;
  reply(conn: Connection, call: DecodedMessage, signature: string, body: unknown[]): void;
  lookup(name: string): Connection | undefined;
  /** The well-known names a connection owns now. */
  namesOf(conn: Connection): string[];
  /** max_outgoing_bytes, which bounds a channel's queued calls too. */
  maxQueuedBytes(): number;
  /** `callee` answered `caller`'s call `serial` on a channel: the bus stops waiting for it. */
  forgetCall(callee: Connection, caller: Connection, serial: number): void;
  /** Why no grant may be made now (a monitor, an eavesdropper, send/receive rules), or undefined. */
  grantRefusal(): string | undefined;
  log(line: string): void;
}

/** Counters for Debug.Stats and fastbus status. */
export interface DirectStats {
  grants: number;
  refusals: number;
}

/** The direct-path grants of one bus. */
export class DirectGrants {
  readonly stats: DirectStats = { grants: 0, refusals: 0 };
  private readonly capable = new Set<Connection>();
  private readonly pairs = new Map<Connection, Map<Connection, DirectPair>>();
  /** Pairs with at least one switched side: fan-outs look up pairs only when nonzero. */
  private switchedPairs = 0;
  private readonly processEnds: ProcessEnds;
  private readonly iface: DirectInterface;

  constructor(private readonly host: GrantsHost, readonly settings: DirectSettings = DEFAULT_DIRECT) {
    this.processEnds = new ProcessEnds(settings.maxPerProcess);
    this.iface = new DirectInterface(this, host);
  }

  /** How many connections asked for the direct path. */
  get capableCount(): number {
    return this.capable.size;
  }

  /** Pairs with a channel (offered or live), for status. */
  livePairs(): PairInfo[] {
    const out: PairInfo[] = [];
    for (const [c, m] of this.pairs) {
      for (const p of m.values()) {
        if (p.a !== c || (p.state !== 'offered' && p.state !== 'live')) continue;
        out.push({ a: p.a, b: p.b, state: p.state, bytesAB: p.traffic?.bytesFrom(0) ?? 0, bytesBA: p.traffic?.bytesFrom(1) ?? 0 });
      }
    }
    return out;
  }

  /** One connection's channels and the bytes it sent and received on them (GetConnectionStats). */
  statsOf(c: Connection): { peers: number; bytesOut: number; bytesIn: number } {
    let peers = 0, bytesOut = 0, bytesIn = 0;
    for (const p of this.pairs.get(c)?.values() ?? []) {
      if (p.state !== 'offered' && p.state !== 'live') continue;
      peers++;
      const mine = p.a === c ? 0 : 1;
      bytesOut += p.traffic?.bytesFrom(mine) ?? 0;
      bytesIn += p.traffic?.bytesFrom(mine === 0 ? 1 : 0) ?? 0;
    }
    return { peers, bytesOut: bytesOut >>> 0, bytesIn: bytesIn >>> 0 };
  }

  /** Whether `from` sends to `to` on a channel now (the bus leaves `to` out of `from`'s fan-out). */
  skips(from: Connection, to: Connection): boolean {
    if (this.switchedPairs === 0) return false;
    const p = this.pairs.get(from)?.get(to);
    return p !== undefined && (p.switched & bit(p, from)) !== 0;
  }

  /**
   * Whether `from` may answer `to` without a call the bus saw: they had a
   * channel, and calls made on it may be answered through the bus once it is
   * revoked (each end checks replies against its own calls).
   */
  hadChannel(from: Connection, to: Connection): boolean {
    return this.pairs.get(from)?.get(to)?.channelled === true;
  }

  /**
   * A monitor or an eavesdropper is being attached: every channel is revoked
   * before this returns (its flag is set, so an end that sends after this
   * uses the bus), and each end is told (Revoke). Each end answers Revoked,
   * its marker, once it stopped using the channel; the bus passes it on to
   * the other end (PeerRevoked), behind what the end sent through the bus
   * before. Once both did, the pair counts messages again, for a new grant
   * when nothing watches any more.
   */
  revokeAll(): void {
    this.host.broadcasts.watched();
    for (const [c, m] of this.pairs) {
      for (const p of m.values()) {
        if (p.a !== c) continue;
        if (p.state === 'counting') p.count = 0;
        this.revokePair(p);
      }
    }
  }

  private revokePair(p: DirectPair): void {
    if (p.state !== 'offered' && p.state !== 'live') return;
    p.state = 'revoking';
    p.revoked = 0;
    p.traffic!.revoke();
    this.notify(p.a, 'Revoke', 's', [p.b.uniqueName!]);
    this.notify(p.b, 'Revoke', 's', [p.a.uniqueName!]);
  }

  /** A unicast message the bus routed from `from` to `to`: may grant the pair a channel. */
  observe(from: Connection, to: Connection): void {
    if (from === to || !this.capable.has(from) || !this.capable.has(to)) return;
    let p = this.pairs.get(from)?.get(to);
    if (p === undefined) {
      p = newPair(from, to);
      this.pairsOf(from).set(to, p);
      this.pairsOf(to).set(from, p);
    }
    if (p.state !== 'counting' || ++p.count < this.settings.afterMessages || this.settings.afterMessages === 0) return;
    const refusal = this.host.grantRefusal() ??
      (this.channelsOf(from) >= this.settings.maxPeers || this.channelsOf(to) >= this.settings.maxPeers || !this.processEnds.roomFor(from, to) ? 'too many channels' : undefined);
    if (refusal !== undefined) {
      // Checked again after as many messages more.
      p.count = 0;
      this.stats.refusals++;
      return;
    }
    this.grant(p);
  }

  /** Handles a call to org.fastbus.Direct1 (addressed to the bus). */
  call(conn: Connection, msg: DecodedMessage): void {
    this.iface.call(conn, msg);
  }

  /** `conn` asked for the direct path (Enable). */
  enable(conn: Connection): void {
    this.capable.add(conn);
    // Before the reply: the word that says whether the bus needs conn's broadcasts.
    this.host.broadcasts.open(conn);
  }

  /**
   * A connection leaves the bus as a peer (disconnect, BecomeMonitor): its
   * channel peers hear it first, before any NameOwnerChanged about it, so
   * that they read what it sent on the channel before they hear it left.
   */
  disconnected(conn: Connection): void {
    this.capable.delete(conn);
    this.host.broadcasts.forget(conn);
    const mine = this.pairs.get(conn);
    if (mine === undefined) return;
    this.pairs.delete(conn);
    for (const [other, p] of mine) {
      this.pairs.get(other)?.delete(conn);
      if (p.switched !== 0) this.switchedPairs--;
      // Calls made on a channel, even a revoked one, fail with NoReply at the caller when it hears this.
      if (p.channelled) this.notify(other, 'PeerGone', 's', [conn.uniqueName!]);
      this.close(p);
    }
  }

  /** A well-known name changed owner: peers with a channel to the old or new owner hear it. */
  ownerChanged(name: string, from: Connection | undefined, to: Connection | undefined): void {
    const told = new Set<Connection>();
    for (const c of [from, to]) {
      const m = c === undefined ? undefined : this.pairs.get(c);
      if (m === undefined) continue;
      for (const [other, p] of m) {
        if ((p.state !== 'offered' && p.state !== 'live') || told.has(other)) continue;
        told.add(other);
        this.notify(other, 'OwnerChanged', 'ss', [name, to?.uniqueName ?? '']);
      }
    }
  }

  private pairsOf(c: Connection): Map<Connection, DirectPair> {
    let m = this.pairs.get(c);
    if (m === undefined) this.pairs.set(c, (m = new Map()));
    return m;
  }

  private channelsOf(c: Connection): number {
    let n = 0;
    for (const p of this.pairs.get(c)?.values() ?? []) if (p.state === 'offered' || p.state === 'live') n++;
    return n;
  }

  private pairWith(conn: Connection, peer: string): DirectPair | undefined {
    const other = this.host.lookup(peer);
    return other === undefined ? undefined : this.pairs.get(conn)?.get(other);
  }

  private grant(p: DirectPair): void {
    const fds = makeDirectChannel(p, this.settings.ringBytes, this.host);
    if (fds === undefined) {
      p.state = 'closed';
      return;
    }
    p.state = 'offered';
    p.accepted = 0;
    p.revoked = 0;
    p.channelled = true;
    this.processEnds.count(p.a, p.b, 1);
    this.stats.grants++;
    sendGrants(p, fds, this.host, this.iface);
  }

  /** `conn` opened its end of the channel offered to it and `peer` (Accept): once both did, each is told Go. */
  accept(conn: Connection, peer: string): void {
    const p = this.pairWith(conn, peer);
    if (p === undefined || p.state !== 'offered') return;
    p.accepted |= bit(p, conn);
    if (p.accepted !== 3) return;
    p.state = 'live';
    this.notify(p.a, 'Go', 's', [p.b.uniqueName!]);
    this.notify(p.b, 'Go', 's', [p.a.uniqueName!]);
  }

  /** `conn` could not open the channel offered to it and `peer` (Decline): the pair stays on the bus. */
  decline(conn: Connection, peer: string, reason: string): void {
    const p = this.pairWith(conn, peer);
    if (p === undefined || (p.state !== 'offered' && p.state !== 'counting')) return;
    // The decliner closed its end: the other end sees the channel hang up, and this marker says nothing will come on it.
    this.close(p);
    this.notify(p.a === conn ? p.b : p.a, 'PeerRevoked', 's', [conn.uniqueName!]);
    this.host.log(`${conn.uniqueName} declined a direct channel to ${peer}: ${reason}`);
  }

  /** `conn`'s marker: it sends to `peer` on their channel from here on (Switched). */
  switched(conn: Connection, peer: string): void {
    const p = this.pairWith(conn, peer);
    // An end may switch after its channel was revoked, when it had the Go before it saw the flag: its peer must know to read it.
    if (p === undefined || (p.state !== 'live' && p.state !== 'revoking') || ((p.switched | p.revoked) & bit(p, conn)) !== 0) return;
    if (p.switched === 0) this.switchedPairs++;
    p.switched |= bit(p, conn);
    const other = p.a === conn ? p.b : p.a;
    // The marker: everything `conn` sent `other` through the bus is queued before it.
    this.notify(other, 'PeerSwitched', 's', [conn.uniqueName!]);
  }

  /** `conn`'s marker: it stopped sending to `peer` on their revoked channel; what follows goes through the bus. */
  revoked(conn: Connection, peer: string): void {
    const p = this.pairWith(conn, peer);
    // An end whose channel's socket broke revokes it first: the other end is told as for a monitor.
    if (p !== undefined) this.revokePair(p);
    if (p === undefined || p.state !== 'revoking' || (p.revoked & bit(p, conn)) !== 0) return;
    p.revoked |= bit(p, conn);
    if ((p.switched & bit(p, conn)) !== 0) {
      // From here on the bus delivers conn's signals to peer again.
      p.switched &= ~bit(p, conn);
      if (p.switched === 0) this.switchedPairs--;
    }
    const other = p.a === conn ? p.b : p.a;
    // Behind everything conn sent through the bus before: the peer reads the channel up to conn's end first.
    this.notify(other, 'PeerRevoked', 's', [conn.uniqueName!]);
    if (p.revoked !== 3) return;
    this.dropChannel(p);
    p.state = 'counting';
    p.count = 0;
  }

  /** `conn`'s channel to `peer` failed and it is back on the bus (Unswitched): the channel is closed. */
  unswitched(conn: Connection, peer: string): void {
    const p = this.pairWith(conn, peer);
    if (p === undefined) return;
    if ((p.switched & bit(p, conn)) !== 0) {
      p.switched &= ~bit(p, conn);
      if (p.switched === 0) this.switchedPairs--;
    }
    this.close(p);
  }

  private close(p: DirectPair): void {
    p.state = 'closed';
    this.dropChannel(p);
  }

  /** The bus's hold on a pair's channel ends (its processes' ends count one fewer). */
  private dropChannel(p: DirectPair): void {
    if (p.traffic === undefined) return;
    p.traffic.close();
    p.traffic = undefined;
    this.processEnds.count(p.a, p.b, -1);
  }

  private notify(target: Connection, member: string, signature: string, body: unknown[]): void {
    this.iface.notify(target, member, signature, body);
  }
}
