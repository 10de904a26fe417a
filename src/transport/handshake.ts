// Runs a SASL exchange over a stream still in raw mode, then switches it to
// messages with the bytes that followed BEGIN. Server and client side; both
// give up after a watchdog so a silent peer cannot hold a connection forever.
import { ProtocolError } from '../errors.js';
import type { MessageStream } from './message-stream.js';
import { SaslClient, type SaslClientOptions, type SaslClientResult } from './sasl-client.js';
import { SaslServer, type SaslResult, type SaslServerOptions } from './sasl-server.js';

function run<T>(stream: MessageStream, timeoutMs: number, step: (bytes: Uint8Array) => T | undefined, rest: (result: T) => Uint8Array): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => stream.close(new ProtocolError('AUTH_TIMEOUT', `authentication did not finish in ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    const done = (): void => {
      clearTimeout(timer);
      stream.onRaw = undefined;
      stream.onClose = undefined;
    };
    stream.onClose = (error) => {
      done();
      reject(error ?? new ProtocolError('AUTH_EOF', 'connection closed during authentication'));
    };
    stream.onRaw = (bytes) => {
      let result: T | undefined;
      try {
        result = step(bytes);
      } catch (e) {
        done();
        stream.close(e as Error);
        reject(e);
        return;
      }
      if (result !== undefined) {
        // Switch to messages now, inside this read: bytes after BEGIN must not
        // be read as handshake text. Paused until the owner sets its handlers.
        done();
        stream.pause();
        stream.startMessages(rest(result));
        resolve(result);
      }
    };
  });
}

/**
 * Authenticates a client on the server side; resolves once BEGIN arrived.
 * The stream then carries messages but is paused: set onMessage/onClose, then resume().
 */
export async function authenticateServer(stream: MessageStream, options: SaslServerOptions, timeoutMs = 30000): Promise<SaslResult> {
  const sasl = new SaslServer(options);
  return run(stream, timeoutMs, (bytes) => {
    const r = sasl.receive(bytes);
    if (r.reply) stream.send(Buffer.from(r.reply, 'latin1'));
    return r.result;
  }, (r) => r.rest);
}

/** Authenticates to a server; resolves once BEGIN was sent, with the stream paused as above. */
export async function authenticateClient(stream: MessageStream, options: SaslClientOptions, timeoutMs = 30000): Promise<SaslClientResult> {
  const sasl = new SaslClient(options);
  const promise = run(stream, timeoutMs, (bytes) => {
    const r = sasl.receive(bytes);
    if (r.send) stream.send(Buffer.from(r.send, 'latin1'));
    return r.result;
  }, (r) => r.rest);
  stream.send(Buffer.from(sasl.start(), 'latin1'));
  return promise;
}
