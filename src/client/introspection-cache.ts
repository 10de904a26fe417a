// Introspection data per destination and object path, as a connection keeps
// it: one Introspect call per object, shared by every caller while it runs; a
// failed call is forgotten, so that the next caller asks again.
import type { CallOptions, MethodCall } from './connection-options.js';
import { parseIntrospection, type NodeInfo } from './introspection.js';

/** A connection's cache of parsed introspection data. */
export class IntrospectionCache {
  private readonly nodes = new Map<string, Promise<NodeInfo>>();

  constructor(private readonly callMethod: (call: MethodCall, options?: CallOptions) => Promise<unknown[]>) {}

  /** The object's introspection data (`fresh`: asked again, not taken from the cache). */
  get(destination: string, path: string, options: CallOptions & { fresh?: boolean }): Promise<NodeInfo> {
    const key = `${destination}\0${path}`;
    const cached = this.nodes.get(key);
    if (cached && !options.fresh) return cached;
    const p = this.callMethod({ destination, path, interface: 'org.freedesktop.DBus.Introspectable', member: 'Introspect' }, options)
      .then(([xml]) => parseIntrospection(xml as string));
    this.nodes.set(key, p);
    p.catch(() => this.nodes.delete(key));
    return p;
  }
}
