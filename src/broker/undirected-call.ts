// A method call with no destination (D-Bus specification, "Message Bus
// Message Routing"): it is for the bus itself, and no other application sees
// it, not even a monitor. dbus-daemon leaves such calls to libdbus at its end
// of the connection, which answers Peer (Ping, GetMachineId) and Introspect
// (an empty node, at any path) and everything else, driver methods included,
// with UnknownMethod; its replies have no sender, and a call that asks for no
// reply is answered all the same. fastbus answers the same way.
import { MessageFlags, MessageType, type DecodedMessage, type Message } from '../wire/index.js';
import type { Broker } from './broker.js';
import { BusErrors } from './bus-error.js';
import type { Connection } from './connection.js';
import { INTROSPECTABLE, PEER } from './driver-names.js';

/** What libdbus answers Introspect with on a connection that exports no objects. */
const EMPTY_NODE = '<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"\n'
  + '"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n<node>\n</node>\n';

/** Answers a method call without DESTINATION from `conn`. */
export function answerUndirected(bus: Broker, conn: Connection, call: DecodedMessage): void {
  const base = { flags: MessageFlags.NO_REPLY_EXPECTED, serial: 0, replySerial: call.serial };
  const reply = (signature: string, body: unknown[]): Message => ({ ...base, type: MessageType.METHOD_RETURN, signature: signature || undefined, body });
  const unknown = (text: string): Message => ({ ...base, type: MessageType.ERROR, errorName: BusErrors.UnknownMethod, signature: 's', body: [text] });
  let answer: Message;
  if (call.interface === PEER) {
    if (call.member === 'Ping') answer = reply('', []);
    else if (call.member === 'GetMachineId') answer = reply('s', [bus.driver.machineId()]);
    else answer = unknown(`Unknown method invoked on ${PEER} interface`);
  } else if (call.member === 'Introspect' && (call.interface === undefined || call.interface === INTROSPECTABLE)) {
    answer = reply('s', [EMPTY_NODE]);
  } else {
    answer = unknown(`Method "${call.member}" with signature "${call.signature ?? ''}" on interface "${call.interface ?? '(null)'}" doesn't exist\n`);
  }
  bus.router.sendDirect(conn, answer);
}
