// The transport layer's public surface: bus addresses, SASL (server and
// client), framed message streams over unix and tcp sockets, listeners and
// peer credentials. Shared by the broker and the client.
export * from './bus-address.js';
export * from './sasl-server.js';
export * from './sasl-client.js';
export * from './message-stream.js';
export * from './frame-reader.js';
export * from './unix-stream.js';
export * from './tcp-stream.js';
export * from './peer-credentials.js';
export * from './socket-address.js';
export * from './listener.js';
export * from './handshake.js';
export * from './connect.js';
export * from './cookie-keyring.js';
export * from './buffer-pool.js';
export * from './read-group.js';
