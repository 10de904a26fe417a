// The bus's side of the direct path (docs/direct.md): the org.fastbus.Direct1
// extension. Connections that asked (Enable) and talk to each other through
// the bus get a channel (segment, doorbells, socketpair) with each other's
// identity (Grant); once both ends opened it (Accept), each is told Go, sends
// its marker (Switched) through the bus and uses the channel for that peer,
// and the other end is told (PeerSwitched). Grants are made only while no
// monitor or eavesdropper is attached and no send/receive rule is configured;
// one that attaches revokes every channel (revokeAll): the switch in reverse,
// each end's marker (Revoked) passing through the bus as PeerRevoked.
import { GrantedTraffic, makeGrantedFds } from '../channel/granted-fds.js';
import { DIRECT_INTERFACE } from '../names/index.js';
import { fdClose } from '../native/native.js';
import { MessageType, type DecodedMessage, type Message } from '../wire/index.js';
import { MARKERS, type BroadcastNeeds } from './broadcast-needs.js';
import { DEFAULT_DIRECT, type DirectSettings } from './broker-settings.js';
import { BusErrors } from './bus-error.js';
import type { Connection } from './connection.js';
import { ProcessEnds } from './direct-process-ends.js';
import { SharedFds } from './shared-fds.js';

const DRIVER_PATH = '/org/freedesktop/DBus';
/** The extension's version, Enable's answer (2: channels can be revoked; 3: the broadcast word). */
const DIRECT_VERSION = 3;

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

/** counting -> offered -> live -> revoking -> counting again (or closed after a failure). */
type PairState = 'counting' | 'offered' | 'live' | 'revoking' | 'closed';

/** Two connections, from the first message the bus routed between them. `a` is side 0 of its channel. */
interface Pair {
  a: Connection;
  b: Connection;
  state: PairState;
  count: number;
  /** Bit 1: a accepted / switched / stopped using a revoked channel; bit 2: b. */
  accepted: number;
  switched: number;
  revoked: number;
  /** The pair was granted a channel once (replies between them may answer calls made on it; each hears PeerGone of the other). */
  channelled: boolean;
  /** The bytes each side has put on the channel, read from its segment. */
  traffic: GrantedTraffic | undefined;
}

/** A pair with a channel, as Direct1.ListPairs and fastbus status show it. */
export interface PairInfo {
  a: Connection;
  b: Connection;
  state: 'offered' | 'live';
  /** Bytes a sent b and b sent a on the channel (ring frames, mod 2^32). */
  bytesAB: number;
  bytesBA: number;
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
  private readonly pairs = new Map<Connection, Map<Connection, Pair>>();
  /** Pairs with at least one switched side: fan-outs look up pairs only when nonzero. */
  private switchedPairs = 0;
  private readonly processEnds: ProcessEnds;

  constructor(private readonly host: GrantsHost, readonly settings: DirectSettings = DEFAULT_DIRECT) {
    this.processEnds = new ProcessEnds(settings.maxPerProcess);
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

  private revokePair(p: Pair): void {
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
      p = { a: from, b: to, state: 'counting', count: 0, accepted: 0, switched: 0, revoked: 0, channelled: false, traffic: undefined };
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
    const sig = msg.signature ?? '';
    const body = msg.body;
    const expect = (s: string): boolean => {
      if (sig === s) return true;
      this.host.replyError(conn, msg, BusErrors.InvalidArgs, `Call to ${msg.member} has wrong args (${sig}, expected ${s})`);
      return false;
    };
    // Counted whatever they say: the sender compares the count with the markers it sent.
    if (MARKERS.has(msg.member!)) this.host.broadcasts.marker(conn);
    switch (msg.member) {
      case 'Enable':
        if (!expect('')) return;
        if (!conn.unixFd || conn.credentials === undefined || conn.stream.kind !== 'unix') {
          this.host.replyError(conn, msg, BusErrors.NotSupported, 'The direct path needs a unix socket that passes fds');
          return;
        }
        this.capable.add(conn);
        // Before the reply: the word that says whether the bus needs conn's broadcasts.
        this.host.broadcasts.open(conn);
        this.host.reply(conn, msg, 'u', [DIRECT_VERSION]);
        return;
      case 'Accept':
        if (expect('s')) this.accept(conn, body[0] as string);
        return;
      case 'Decline':
        if (expect('ss')) this.decline(conn, body[0] as string, body[1] as string);
        return;
      case 'Switched':
        if (expect('s')) this.switched(conn, body[0] as string);
        return;
      case 'Unswitched':
        if (expect('s')) this.unswitched(conn, body[0] as string);
        return;
      case 'Revoked':
        if (expect('s')) this.revoked(conn, body[0] as string);
        return;
      case 'ListPairs':
        if (!expect('')) return;
        this.host.reply(conn, msg, 'a(ssstt)', [this.livePairs().map((p) => [p.a.uniqueName!, p.b.uniqueName!, p.state, BigInt(p.bytesAB), BigInt(p.bytesBA)])]);
        return;
      case 'Answered': {
        if (!expect('su')) return;
        const caller = this.host.lookup(body[0] as string);
        if (caller !== undefined) this.host.forgetCall(conn, caller, body[1] as number);
        return;
      }
      default:
        this.host.replyError(conn, msg, BusErrors.UnknownMethod, `${DIRECT_INTERFACE} does not understand message ${msg.member}`);
    }
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

  private pairsOf(c: Connection): Map<Connection, Pair> {
    let m = this.pairs.get(c);
    if (m === undefined) this.pairs.set(c, (m = new Map()));
    return m;
  }

  private channelsOf(c: Connection): number {
    let n = 0;
    for (const p of this.pairs.get(c)?.values() ?? []) if (p.state === 'offered' || p.state === 'live') n++;
    return n;
  }

  private pairWith(conn: Connection, peer: string): Pair | undefined {
    const other = this.host.lookup(peer);
    return other === undefined ? undefined : this.pairs.get(conn)?.get(other);
  }

  private grant(p: Pair): void {
    let fds;
    try {
      fds = makeGrantedFds(this.settings.ringBytes);
    } catch (e) {
      this.host.log(`cannot make a direct channel for ${p.a.uniqueName} and ${p.b.uniqueName}: ${(e as Error).message}`);
      p.state = 'closed';
      return;
    }
    try {
      // The bus's way to revoke the channel: no grant without it.
      p.traffic = new GrantedTraffic(fds.memfd, this.settings.ringBytes);
    } catch (e) {
      this.host.log(`cannot map a direct channel for ${p.a.uniqueName} and ${p.b.uniqueName}: ${(e as Error).message}`);
      for (const fd of [fds.memfd, fds.efd0, fds.efd1, ...fds.socks]) fdClose(fd);
      p.state = 'closed';
      return;
    }
    p.state = 'offered';
    p.accepted = 0;
    p.revoked = 0;
    p.channelled = true;
    this.processEnds.count(p.a, p.b, 1);
    this.stats.grants++;
    const common = [fds.memfd, fds.efd0, fds.efd1];
    let holders = 2;
    const releaseCommon = (): void => {
      if (--holders === 0) for (const fd of common) fdClose(fd);
    };
    const maxQueued = this.host.maxQueuedBytes();
    for (const side of [0, 1] as const) {
      const self = side === 0 ? p.a : p.b;
      const other = side === 0 ? p.b : p.a;
      const sock = fds.socks[side];
      const shared = new SharedFds([...common, sock], () => {
        fdClose(sock);
        releaseCommon();
      });
      const creds = other.credentials!;
      // h values index the fds: memfd, efd0, efd1, this side's socket.
      this.notify(self, 'Grant', 'suuasuuhhhh', [other.uniqueName!, creds.uid, creds.pid, this.host.namesOf(other), side, maxQueued, 0, 1, 2, 3], shared);
      shared.release();
    }
  }

  private accept(conn: Connection, peer: string): void {
    const p = this.pairWith(conn, peer);
    if (p === undefined || p.state !== 'offered') return;
    p.accepted |= bit(p, conn);
    if (p.accepted !== 3) return;
    p.state = 'live';
    this.notify(p.a, 'Go', 's', [p.b.uniqueName!]);
    this.notify(p.b, 'Go', 's', [p.a.uniqueName!]);
  }

  private decline(conn: Connection, peer: string, reason: string): void {
    const p = this.pairWith(conn, peer);
    if (p === undefined || (p.state !== 'offered' && p.state !== 'counting')) return;
    // The decliner closed its end: the other end sees the channel hang up, and this marker says nothing will come on it.
    this.close(p);
    this.notify(p.a === conn ? p.b : p.a, 'PeerRevoked', 's', [conn.uniqueName!]);
    this.host.log(`${conn.uniqueName} declined a direct channel to ${peer}: ${reason}`);
  }

  private switched(conn: Connection, peer: string): void {
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
  private revoked(conn: Connection, peer: string): void {
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

  private unswitched(conn: Connection, peer: string): void {
    const p = this.pairWith(conn, peer);
    if (p === undefined) return;
    if ((p.switched & bit(p, conn)) !== 0) {
      p.switched &= ~bit(p, conn);
      if (p.switched === 0) this.switchedPairs--;
    }
    this.close(p);
  }

  private close(p: Pair): void {
    p.state = 'closed';
    this.dropChannel(p);
  }

  /** The bus's hold on a pair's channel ends (its processes' ends count one fewer). */
  private dropChannel(p: Pair): void {
    if (p.traffic === undefined) return;
    p.traffic.close();
    p.traffic = undefined;
    this.processEnds.count(p.a, p.b, -1);
  }

  private notify(target: Connection, member: string, signature: string, body: unknown[], fds?: SharedFds): void {
    this.host.sendFromBus(target, { type: MessageType.SIGNAL, flags: 0, serial: 0, path: DRIVER_PATH, interface: DIRECT_INTERFACE, member, signature, body }, fds);
  }
}

function bit(p: Pair, c: Connection): number {
  return p.a === c ? 1 : 2;
}
