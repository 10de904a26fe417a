// fastbus/channel: point-to-point messages between two processes over shared
// memory. listen/connect for unrelated processes, fork/parentChannel for a
// Node child; see docs/channel.md for the layout, modes and faults.
export { Channel } from './channel.js';
export { ChannelClosedError, type CloseReason } from './channel-closed-error.js';
export type { ChannelOptions, LargePayloadMode } from './channel-options.js';
export type { ChannelStats } from './channel-stats.js';
export { MAX_HANDLES, type SendHandle, type SendHandleOptions } from './handles.js';
export { ChannelServer, listen, type ListenOptions } from './channel-server.js';
export { connect, type ConnectOptions } from './connect.js';
export { fork, parentChannel, type ForkOptions } from './fork.js';
export { SegmentError, LAYOUT_VERSION } from './segment.js';
export { DEFAULT_RING_BYTES } from './setup.js';
