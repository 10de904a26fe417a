// The client's side of the direct path (docs/direct.md): takes the channels
// the bus grants (org.fastbus.Direct1), sends traffic for a switched peer on
// its channel, stamps `sender` of what arrives there from the identity the
// bus vouched for, sends back what reached us under a name we no longer own,
// and falls back to the bus when a channel fails or is revoked. Invariant: for
// each peer, nothing we sent through the bus before our marker arrives after
// anything we sent on the channel (the marker passes through the bus, and the
// peer reads the channel only once it has it); and, in reverse, nothing we send
// through the bus after a revocation arrives before what we sent on the
// channel (our end frame goes on the channel before our marker goes to the bus,
// and the peer holds our messages from the bus until it has read the end frame).
import { GrantState, openGranted } from '../channel/granted-ends.js';
import { DIRECT_INTERFACE } from '../names/index.js';
import { fdClose } from '../native/native.js';
import { MessageFlags, MessageType, type EncodedParts, type Message } from '../wire/index.js';
import type { DirectHost, DirectOptions } from './direct-host.js';
import { DirectBroadcasts } from './direct-broadcasts.js';
import { DirectPeer } from './direct-peer.js';
import { DirectRevocations } from './direct-revocations.js';
import { MatchableSelf, peerWants, RulesMirror, takeRules, type RulesFrame } from './direct-rules.js';
import { writeDirect } from './direct-write.js';

const DBUS = 'org.freedesktop.DBus';
/** How long input from the bus waits for a dead peer's channel to report its end (a frozen peer process cannot hold us). */
const GONE_WAIT_MS = 2000;

/**
 * Messages up to this size are read in place on the channel (views, copied out by the decoder);
 * larger ones land in the receive pool, warm memory this side owns (the channel's large-payload
 * threshold by default).
 */
const DIRECT_VIEWS_MAX_BYTES = 64 << 10;

/** Every direct peer of one connection. */
export class DirectPeers {
  /** The bus's max_outgoing_bytes: calls waiting for ring room beyond it fail with LimitsExceeded. */
  maxQueuedBytes = 256 * 1024 * 1024;
  private readonly peers = new Map<string, DirectPeer>();
  /** Our match rules as our peers see them, and our signals as their rules see them. */
  private readonly rules: RulesMirror;
  private readonly self: MatchableSelf;
  /** Revoked channels (a monitor attached), until they are done. */
  private readonly revocations: DirectRevocations;
  /** Well-known names owned by granted peers, as the bus pushes them. */
  private readonly owners = new Map<string, DirectPeer>();
  /** Well-known names this connection owns, as NameAcquired/NameLost said. */
  private readonly ownNames = new Set<string>();
  /** Calls that reached us through the bus and wait for our reply, by caller. */
  private readonly busCalls = new Map<string, Set<number>>();
  /** Whether the bus needs our broadcasts (the word it writes). */
  private readonly broadcasts = new DirectBroadcasts();
  private closed = false;

  constructor(private readonly host: DirectHost, private readonly options: DirectOptions = {}) {
    this.self = new MatchableSelf(() => host.uniqueName, this.ownNames);
    this.rules = new RulesMirror(() => host.matchRules());
    this.revocations = new DirectRevocations({
      tellBus: (member, signature, body) => this.tell(member, signature, body),
      redeliver: (msg) => host.redeliver(msg),
      unroute: (p) => {
        if (this.peers.get(p.uniqueName) === p) this.peers.delete(p.uniqueName);
        for (const n of p.names) if (this.owners.get(n) === p) this.owners.delete(n);
      },
    });
  }

  /** The peers with a channel, for status and tests. */
  list(): DirectPeer[] {
    return [...this.peers.values()];
  }

  /** The peer `name` (unique) if traffic to it travels a channel now. */
  peer(name: string): DirectPeer | undefined {
    return this.peers.get(name);
  }

  /**
   * Looks at a message from the bus before it is handled; true when it was
   * the extension's and is consumed.
   */
  fromBus(msg: Message): boolean {
    const sender = msg.sender;
    if (this.revocations.hold(msg)) return true;
    if (sender === DBUS) {
      if (msg.interface === DIRECT_INTERFACE && msg.type === MessageType.SIGNAL) {
        this.control(msg);
        return true;
      }
      if (msg.interface === DBUS && msg.destination === this.host.uniqueName) {
        if (msg.member === 'NameAcquired') this.ownNames.add(msg.body[0] as string);
        else if (msg.member === 'NameLost') this.ownNames.delete(msg.body[0] as string);
      }
      return false;
    }
    if (msg.type === MessageType.METHOD_CALL && !(msg.flags & MessageFlags.NO_REPLY_EXPECTED) && sender !== undefined && sender.charCodeAt(0) === 58) {
      let set = this.busCalls.get(sender);
      if (!set) this.busCalls.set(sender, (set = new Set()));
      set.add(msg.serial);
    }
    return false;
  }

  /** Tells the bus something (a Direct1 call without reply), counting our markers. */
  private tell(member: string, signature: string, body: unknown[]): void {
    this.broadcasts.telling(member);
    this.host.tellBus(member, signature, body);
  }

  /**
   * Sends `msg` (encoded as `bytes`) on a channel when its destination is a
   * switched peer; returns that peer's unique name, or undefined when the
   * message must go through the bus. A broadcast signal is copied to every
   * switched peer whose rules want it (the bus leaves them out of its
   * fan-out), and also goes to the bus unless the bus needs none (then '').
   * `borrowed` bytes are valid only until this returns (see writeDirect).
   * Throws DBusError LimitsExceeded for a call the peer's queue cannot take.
   */
  route(msg: Message, bytes: Uint8Array | EncodedParts, fds: readonly number[] | undefined, borrowed = false): string | undefined {
    const dest = msg.destination;
    if (dest === undefined) {
      if (msg.type === MessageType.SIGNAL && this.peers.size > 0) {
        for (const p of this.peers.values()) {
          if (p.out !== 'direct') continue;
          // Revoked: the bus delivers this one to the peer, after our marker.
          if (p.grant.revoked) this.revocations.revoke(p);
          // Only to a peer whose rules ask for it (the bus leaves the peer out of its fan-out).
          else if (peerWants(p, msg, this.self)) writeDirect(p, bytes, false, this.maxQueuedBytes, undefined, borrowed);
        }
      }
      // Read after any marker the loop sent (a revocation), so that a pending marker keeps the bus in.
      return msg.type === MessageType.SIGNAL && this.broadcasts.unneeded() ? '' : undefined;
    }
    const isReply = msg.type === MessageType.METHOD_RETURN || msg.type === MessageType.ERROR;
    let answered = false;
    if (isReply && this.busCalls.size > 0) {
      const set = this.busCalls.get(dest);
      if (set?.delete(msg.replySerial!)) {
        answered = true;
        if (set.size === 0) this.busCalls.delete(dest);
      }
    }
    const p = dest.charCodeAt(0) === 58 ? this.peers.get(dest) : this.owners.get(dest);
    if (p === undefined || p.out !== 'direct') return undefined;
    if (p.grant.revoked) {
      // A monitor attached: from here on this peer's traffic passes the bus, where it sees it.
      this.revocations.revoke(p);
      return undefined;
    }
    if (!writeDirect(p, bytes, msg.type === MessageType.METHOD_CALL, this.maxQueuedBytes, fds !== undefined && fds.length > 0 ? fds : undefined, borrowed)) return undefined;
    // The bus still counts this call as waiting for us: tell it the answer went on the channel.
    if (answered) this.tell('Answered', 'su', [dest, msg.replySerial]);
    return p.uniqueName;
  }

  private control(msg: Message): void {
    const name = msg.body[0] as string;
    switch (msg.member) {
      case 'Grant':
        return this.grant(msg);
      case 'Broadcasts':
        return this.broadcasts.take(msg);
      case 'OwnerChanged':
        return this.ownerChanged(name, msg.body[1] as string);
      case 'Go': {
        const p = this.peers.get(name);
        if (p === undefined || p.out !== 'offered') return;
        if (p.grant.revoked) return this.revocations.revoke(p);
        // The marker: it passes through the bus after everything we sent there before.
        this.tell('Switched', 's', [name]);
        p.out = 'direct';
        p.switchedOnce = true;
        // The first frame the peer reads: which of our signals it wants copied.
        this.rules.send(p);
        return;
      }
      case 'PeerSwitched': {
        // The peer may have switched before it saw its channel revoked (ours is retired then).
        const p = this.peers.get(name) ?? this.revocations.peer(name);
        if (p === undefined || p.in !== 'waiting') return;
        p.in = 'open';
        p.peerSwitched = true;
        p.channel.resume();
        return;
      }
      case 'Revoke': {
        const p = this.peers.get(name);
        if (p !== undefined) this.revocations.revoke(p);
        // Without a channel (it failed) the bus still waits for the marker; once is enough (we may have seen the flag first).
        else if (this.revocations.peer(name)?.out !== 'ended') this.tell('Revoked', 's', [name]);
        return;
      }
      case 'PeerRevoked': {
        const p = this.revocations.peer(name) ?? this.peers.get(name);
        if (p !== undefined) this.revocations.peerRevoked(p);
        return;
      }
      case 'PeerGone': {
        const old = this.revocations.take(name);
        let waits = false;
        for (const p of [old, this.peers.get(name)]) {
          if (p === undefined || !p.channel.isOpen) continue;
          this.peerGone(p);
          waits = true;
        }
        // Calls made on a channel closed since: the peer cannot answer them any more.
        if (!waits) this.host.failCallsTo(name);
        return;
      }
      default:
        return; // a later version's notice
    }
  }

  private grant(msg: Message): void {
    const [peerName, uid, pid, names, side, maxQueuedBytes, memfd, efd0, efd1, sock] = msg.body as
      [string, number, number, string[], number, number, number, number, number, number];
    const fds = msg.fds ?? [];
    const decline = (reason: string): void => {
      for (const fd of fds) fdClose(fd);
      this.tell('Decline', 'ss', [peerName, reason]);
    };
    if (this.closed || this.peers.has(peerName) || fds.length !== 4 || (side !== 0 && side !== 1)) return decline('unusable grant');
    let grant: GrantState;
    try {
      // Mapped before the channel takes the memfd over.
      grant = new GrantState(fds[memfd], side);
    } catch (e) {
      return decline((e as Error).message);
    }
    let channel;
    try {
      channel = openGranted({ side, memfd: fds[memfd], efd0: fds[efd0], efd1: fds[efd1], sock: fds[sock] }, pid, {
        // Small messages are read in place; large ones land in memory of our own (the receive pool),
        // and their `ay` values are decoded as views of it rather than copied out.
        views: true, viewsMaxBytes: DIRECT_VIEWS_MAX_BYTES, busy: this.options.busy === true, log: (line) => this.host.log(line),
      });
    } catch (e) {
      grant.close();
      this.tell('Decline', 'ss', [peerName, (e as Error).message]);
      return;
    }
    // Nothing from the peer is read before its marker arrives through the bus.
    channel.pause();
    // The bus socket keeps the process alive; a busy channel must stay referenced, or its polling
    // (setImmediate) would only run when some other event wakes the loop.
    if (this.options.busy !== true) channel.unref();
    const p = new DirectPeer(peerName, uid, pid, channel, grant);
    grant.rulesVersion = this.rules.version;
    this.maxQueuedBytes = maxQueuedBytes;
    for (const n of names) this.ownerChanged(n, peerName, p);
    this.peers.set(peerName, p);
    channel.on('message', (data: unknown, handle?: unknown) => this.fromChannel(p, data, Array.isArray(handle) ? (handle as number[]) : undefined));
    channel.on('close', (reason: string, error?: Error) => this.channelClosed(p, reason, error));
    channel.on('hangup', () => this.hungUp(p));
    this.tell('Accept', 's', [peerName]);
  }

  private ownerChanged(name: string, owner: string, p = this.peers.get(owner)): void {
    const prev = this.owners.get(name);
    if (prev !== undefined) {
      prev.names.delete(name);
      this.owners.delete(name);
    }
    if (p === undefined) return;
    p.names.add(name);
    p.everNames.add(name);
    this.owners.set(name, p);
  }

  private fromChannel(p: DirectPeer, data: unknown, fds: number[] | undefined): void {
    if (!(data instanceof Uint8Array)) {
      const t = (data as { t?: unknown } | null)?.t;
      if (fds) for (const fd of fds) fdClose(fd);
      if (t === 'bounce') p.bouncing = true;
      else if (t === 'end') this.revocations.peerEnded(p);
      else if (t === 'fin') this.revocations.peerFinished(p);
      else if (t === 'rules') takeRules(p, data as RulesFrame);
      return;
    }
    if (p.bouncing) {
      // One of ours, sent to a name the peer had lost: through the bus it reaches the owner now.
      p.bouncing = false;
      const bytes = data.slice();
      this.host.busSend(bytes, fds);
      this.host.callRerouted(new DataView(bytes.buffer, bytes.byteOffset, 12).getUint32(8, bytes[0] === 0x6c));
      return;
    }
    if (p.in === 'closed') {
      // After its end frame a peer writes only bounces.
      if (fds) for (const fd of fds) fdClose(fd);
      this.host.log(`fastbus: direct peer ${p.uniqueName} wrote a message after its end frame; ignored`);
      return;
    }
    let msg: Message;
    try {
      msg = this.host.decode(data, data.byteLength > DIRECT_VIEWS_MAX_BYTES, p.headerMemo);
      if ((msg.unixFds ?? 0) !== (fds?.length ?? 0)) throw new Error(`${msg.unixFds ?? 0} unix fds announced, ${fds?.length ?? 0} passed`);
      if (fds) msg.fds = fds;
    } catch (e) {
      if (fds) for (const fd of fds) fdClose(fd);
      this.host.log(`fastbus: direct peer ${p.uniqueName} sent a message that does not decode (${(e as Error).message}); using the bus`);
      void p.channel.close();
      return;
    }
    p.received++;
    // Identity comes from the bus's grant, never from the header.
    msg.sender = p.uniqueName;
    if (msg.unknownFields !== undefined) delete msg.unknownFields;
    const dest = msg.destination;
    if (dest !== undefined && dest.charCodeAt(0) !== 58 && !this.ownNames.has(dest)) {
      // Bounced on our side of the channel, which the peer reads (until our fin, after a revocation).
      if (p.switchedOnce && !p.finSent && p.out !== 'closed' && p.channel.isOpen) {
        void p.channel.send({ t: 'bounce' }).catch(() => undefined);
        // The fds go back with it; ours close once passed.
        const closeOurs = (): void => { if (fds) for (const fd of fds) fdClose(fd); };
        p.channel.send(data.slice(), fds).then(closeOurs, closeOurs);
      } else if (fds) for (const fd of fds) fdClose(fd);
      return;
    }
    this.host.dispatchDirect(msg, p);
  }

  private peerGone(p: DirectPeer): void {
    if (!p.channel.isOpen) return;
    // Input from the bus (NameOwnerChanged, NoReply) waits until the channel
    // has delivered what the peer sent before it went away.
    p.gone = true;
    this.host.holdInput(true);
    p.channel.resume();
    if (p.hungUp) p.channel.peerExited();
    else setTimeout(() => void p.channel.close(), GONE_WAIT_MS).unref();
  }

  /**
   * The channel's socket hung up: the peer left (the bus says so: PeerGone) or the socket broke
   * under two live ends. Its rings still serve, so it ends as a revoked channel does: nothing lost,
   * nothing twice, each sender's order kept (the bus starts the revocation when our marker comes).
   */
  private hungUp(p: DirectPeer): void {
    p.hungUp = true;
    if (p.gone) p.channel.peerExited();
    else this.revocations.revoke(p);
  }

  private channelClosed(p: DirectPeer, reason: string, error: Error | undefined): void {
    if (this.peers.get(p.uniqueName) === p) this.peers.delete(p.uniqueName);
    for (const n of p.names) if (this.owners.get(n) === p) this.owners.delete(n);
    p.grant.close();
    // What the peer wrote before the channel closed was delivered first (a closing channel drains).
    if (p.in === 'draining') this.revocations.peerEnded(p);
    const wasDirect = p.out === 'direct';
    const revoked = p.out === 'ended';
    if (!revoked) p.out = 'closed';
    p.in = 'closed';
    if (p.gone) {
      this.host.failCallsTo(p.uniqueName);
      this.host.holdInput(false);
      return;
    }
    if (revoked) {
      // Calls made on it are answered through the bus now, or fail when the bus says the peer left (PeerGone).
      if (reason === 'error') this.host.log(`fastbus: revoked direct channel to ${p.uniqueName} failed (${error?.message ?? 'unknown error'})`);
      return;
    }
    this.host.failCallsTo(p.uniqueName);
    if (reason === 'error') this.host.log(`fastbus: direct channel to ${p.uniqueName} failed (${error?.message ?? 'unknown error'}); using the bus`);
    // The bus puts the peer back in our signals' fan-out.
    if (!this.closed && wasDirect) this.tell('Unswitched', 's', [p.uniqueName]);
  }

  /** Our match rules changed (called before the AddMatch it needs can return). */
  rulesChanged(): void {
    this.rules.changed(this.peers.values());
  }

  /** Closes every channel (the connection is closing). */
  close(): void {
    this.closed = true;
    this.broadcasts.close();
    for (const p of [...this.peers.values(), ...this.revocations.all()]) if (p.channel.isOpen) void p.channel.close();
  }
}
