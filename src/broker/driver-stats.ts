// org.freedesktop.DBus.Debug.Stats (as dbus-daemon built with stats): the
// bus's counters, one connection's counters, and every match rule by owner.
import { Variant } from '../wire/index.js';
import type { Broker } from './broker.js';
import type { Driver } from './driver.js';
import { STATS } from './driver-names.js';

/** Adds GetStats, GetConnectionStats and GetAllMatchRules. */
export function defineStatsMethods(driver: Driver, bus: Broker): void {
  driver.add(STATS, 'GetStats', '', 'a{sv}', ['stats'], false, () => {
    const m = new Map<string, Variant>([
      ['Serial', new Variant('u', bus.router.lastSerial)],
      ['ActiveConnections', new Variant('u', bus.uniques.size)],
      ['IncompleteConnections', new Variant('u', bus.connections.size - bus.uniques.size - bus.monitors.size)],
      ['MatchRules', new Variant('u', bus.fanOut.matches.size)],
      ['PeakMatchRules', new Variant('u', bus.fanOut.peakMatchRules)],
      ['BusNames', new Variant('u', [...bus.names.ownedNames()].length)],
      // The direct path (docs/direct.md): channels granted so far, and open now.
      ['DirectGrants', new Variant('u', bus.direct.stats.grants)],
      ['DirectChannels', new Variant('u', bus.direct.livePairs().length)],
    ]);
    return ['a{sv}', [m]];
  });
  driver.add(STATS, 'GetConnectionStats', 's', 'a{sv}', ['bus_name', 'stats'], false, (_conn, msg) => {
    const c = driver.connectionOf((msg.body as [string])[0]);
    const direct = bus.direct.statsOf(c);
    const m = new Map<string, Variant>([
      ['UniqueName', new Variant('s', c.uniqueName ?? '')],
      ['IncomingMessages', new Variant('u', c.messagesIn)],
      ['IncomingBytes', new Variant('u', c.bytesIn >>> 0)],
      ['OutgoingMessages', new Variant('u', c.messagesOut)],
      ['OutgoingBytes', new Variant('u', c.stream.queuedBytes)],
      ['PeakOutgoingBytes', new Variant('u', c.peakQueuedBytes >>> 0)],
      ['OutgoingFDs', new Variant('u', c.stream.queuedFds)],
      ['PeakOutgoingFDs', new Variant('u', c.peakQueuedFds)],
      ['OwnedNames', new Variant('u', bus.names.namesOf(c).length)],
      ['MatchRules', new Variant('u', bus.fanOut.matches.countOf(c))],
      ['PendingReplies', new Variant('u', c.pendingCalls)],
      // What went on its direct channels, which the bus reads from their segments (bytes of ring frames, mod 2^32).
      ['DirectPeers', new Variant('u', direct.peers)],
      ['DirectOutgoingBytes', new Variant('u', direct.bytesOut)],
      ['DirectIncomingBytes', new Variant('u', direct.bytesIn)],
    ]);
    return ['a{sv}', [m]];
  });
  driver.add(STATS, 'GetAllMatchRules', '', 'a{sas}', ['rules'], false, () => {
    const m = new Map<string, string[]>();
    for (const owner of bus.fanOut.matches.owners()) {
      const list: string[] = [];
      for (const e of bus.fanOut.matches.rulesOf(owner)) for (let i = 0; i < e.count; i++) list.push(e.text);
      if (owner.uniqueName) m.set(owner.uniqueName, list);
    }
    return ['a{sas}', [m]];
  });
}
