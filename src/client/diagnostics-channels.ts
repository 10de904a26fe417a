// The client's diagnostics channels (node:diagnostics_channel): what a
// connection sends and receives, and when each call starts and ends. Each is
// published only while it has subscribers.
import diagnostics from 'node:diagnostics_channel';

/** Published when a message is sent: `{ connection, message }`. */
export const sendChannel = diagnostics.channel('fastbus:client:send');
/** Published when a message is received: `{ connection, message }`. */
export const receiveChannel = diagnostics.channel('fastbus:client:receive');
/** Published when a call starts: `{ connection, message }`. */
export const callStartChannel = diagnostics.channel('fastbus:client:call:start');
/** Published when a call ends: `{ connection, message, reply?, error?, durationMs }`. */
export const callEndChannel = diagnostics.channel('fastbus:client:call:end');
