// The bridge's connection to its local bus, at the level of message bytes:
// frames are routed by their decoded header and forwarded as they are (a
// serial patched in, or a new header before the same body); only the replies
// to its own driver calls (Hello, RequestName, AddMatch) are decoded whole.
import { closeSync } from 'node:fs';
import { connectBus, type MessageStream } from '../transport/index.js';
import { decodeHeader, decodeMessage, encodeMessage, MessageType, type Message, type MessageHeader } from '../wire/index.js';
import { DBusError, DisconnectedError, ErrorNames, TimeoutError } from '../client/index.js';
import { setSerial } from './reheader.js';

const DBUS = 'org.freedesktop.DBus';
const DBUS_PATH = '/org/freedesktop/DBus';

interface DriverCall {
  resolve(body: unknown[]): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** A raw connection to a bus: send frames, receive frames with their headers. */
export class BusLink {
  /** The unique name the bus gave. */
  uniqueName = '';
  /** Called with every message except the replies to driver calls; `bytes` are the link's to keep. */
  onMessage: (bytes: Uint8Array, header: MessageHeader) => void = () => undefined;
  /** Called once when the connection to the bus ends (`error` when it failed). */
  onClose: (error: Error | undefined) => void = () => undefined;
  private serial = 0;
  private readonly driverCalls = new Map<number, DriverCall>();
  private isClosed = false;

  private constructor(private readonly stream: MessageStream, private readonly timeoutMs: number) {
    stream.onMessage = (frame) => this.receive(frame);
    stream.onClose = (error) => this.streamClosed(error);
    stream.resume();
  }

  /** Connects to `address`, authenticates and says Hello. */
  static async open(address: string, timeoutMs: number): Promise<BusLink> {
    const { stream } = await connectBus(address, { timeoutMs });
    const link = new BusLink(stream, timeoutMs);
    try {
      const [name] = await link.callDriver('Hello');
      link.uniqueName = name as string;
    } catch (e) {
      link.close();
      throw e;
    }
    return link;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Sends the message in `bytes` (owned by the link from now on) under a serial of this connection; returns it. */
  sendFrame(bytes: Uint8Array): number {
    const serial = this.nextSerial();
    setSerial(bytes, serial);
    this.stream.send(bytes);
    return serial;
  }

  /** Encodes and sends a message under a serial of this connection; returns it. */
  sendMessage(message: Omit<Message, 'serial'>): number {
    const m = message as Message;
    m.serial = this.nextSerial();
    this.stream.send(encodeMessage(m));
    return m.serial;
  }

  /** A fresh serial, for a message built with its serial in place (see reheader). */
  nextSerial(): number {
    this.serial = this.serial >= 0xffffffff ? 1 : this.serial + 1;
    return this.serial;
  }

  /** Sends bytes that already carry a serial from nextSerial(). */
  sendBytes(bytes: Uint8Array): void {
    this.stream.send(bytes);
  }

  /** Calls a method of the bus driver; resolves with the reply's body. */
  callDriver(member: string, signature = '', body: unknown[] = []): Promise<unknown[]> {
    if (this.isClosed) return Promise.reject(new DisconnectedError(`bus call ${member}: connection closed`));
    return new Promise((resolve, reject) => {
      const serial = this.sendMessage({ type: MessageType.METHOD_CALL, flags: 0, destination: DBUS, path: DBUS_PATH, interface: DBUS, member, signature, body });
      const timer = setTimeout(() => {
        this.driverCalls.delete(serial);
        reject(new TimeoutError(`bus call ${member}`, this.timeoutMs));
      }, this.timeoutMs);
      this.driverCalls.set(serial, { resolve, reject, timer });
    });
  }

  /** Sends an error reply to a call received on this link. */
  replyError(call: MessageHeader, errorName: string, text: string): void {
    if (this.isClosed || call.sender === undefined) return;
    this.sendMessage({ type: MessageType.ERROR, flags: 0, replySerial: call.serial, destination: call.sender, errorName, signature: 's', body: [text] });
  }

  /** Closes the connection. */
  close(): void {
    this.stream.close();
  }

  private receive(frame: Uint8Array): void {
    let header: MessageHeader;
    try {
      header = decodeHeader(frame);
    } catch (e) {
      this.stream.close(e as Error);
      return;
    }
    if (header.unixFds) {
      // Unix fds cannot cross machines: the message is refused by its handler, its fds closed here.
      try {
        for (const fd of this.stream.takeFds(header.unixFds)) closeSync(fd);
      } catch (e) {
        this.stream.close(e as Error);
        return;
      }
    }
    const rs = header.replySerial;
    if (rs !== undefined && header.sender === DBUS && (header.type === MessageType.METHOD_RETURN || header.type === MessageType.ERROR)) {
      const call = this.driverCalls.get(rs);
      if (call) {
        this.driverCalls.delete(rs);
        clearTimeout(call.timer);
        const m = decodeMessage(frame);
        if (m.type === MessageType.ERROR) call.reject(new DBusError(m.errorName ?? ErrorNames.Failed, typeof m.body[0] === 'string' ? m.body[0] : undefined, m.body));
        else call.resolve(m.body);
        return;
      }
    }
    this.onMessage(frame, header);
  }

  private streamClosed(error: Error | undefined): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const call of this.driverCalls.values()) {
      clearTimeout(call.timer);
      call.reject(new DisconnectedError('bus connection closed', { cause: error }));
    }
    this.driverCalls.clear();
    this.onClose(error);
  }
}
