// The name of fastbus's own bus extension, the direct path (docs/direct.md,
// docs/broker.md): the bus serves it at /org/freedesktop/DBus of
// org.freedesktop.DBus, and clients call it and hear its notices. Here, below
// both the broker and the client, so that both use one spelling.

/** The direct path's interface on a fastbus bus. */
export const DIRECT_INTERFACE = 'org.fastbus.Direct1';
