// Introspection data (D-Bus specification, "Introspection Data Format"): the
// XML that org.freedesktop.DBus.Introspectable.Introspect returns, parsed into
// plain objects and formatted back. The parser reads only this small XML
// dialect; the XML itself is read by util/xml-reader.ts. Text is ignored.
import { readXml, XmlError, type XmlElement } from '../util/xml-reader.js';

/** An annotation: name -> value. */
export type Annotations = Record<string, string>;

export interface ArgInfo {
  name?: string;
  /** One complete type. */
  type: string;
  direction?: 'in' | 'out';
}

export interface MethodInfo {
  name: string;
  /** Arguments in order, each with its direction (default 'in'). */
  args: ArgInfo[];
  annotations: Annotations;
}

export interface SignalInfo {
  name: string;
  args: ArgInfo[];
  annotations: Annotations;
}

export type PropertyAccess = 'read' | 'write' | 'readwrite';

export interface PropertyInfo {
  name: string;
  type: string;
  access: PropertyAccess;
  annotations: Annotations;
}

export interface InterfaceInfo {
  name: string;
  methods: MethodInfo[];
  signals: SignalInfo[];
  properties: PropertyInfo[];
  annotations: Annotations;
}

/** A `<node>`: its interfaces and its children (usually names only). */
export interface NodeInfo {
  name?: string;
  interfaces: InterfaceInfo[];
  nodes: NodeInfo[];
}

/** The introspection XML is not well-formed or breaks the format's rules. */
export class IntrospectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IntrospectionError';
  }
}

const XML_ESCAPES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', '\n': '&#10;', '\r': '&#13;', '\t': '&#9;' };

/** Escapes an attribute value (line breaks and tabs too, which XML parsers would turn into spaces). */
function escapeXml(s: string): string {
  return s.replace(/[<>&"\n\r\t]/g, (c) => XML_ESCAPES[c]);
}

/** Reads the XML (util/xml-reader.ts); a fault is an IntrospectionError with its line and column. */
function parseXml(xml: string): XmlElement {
  try {
    return readXml(xml);
  } catch (e) {
    if (e instanceof XmlError) throw new IntrospectionError(`introspection XML line ${e.line}, column ${e.column}: ${e.reason}`);
    throw e;
  }
}

function need(el: XmlElement, attr: string): string {
  const v = el.attributes[attr];
  if (v === undefined) throw new IntrospectionError(`<${el.name}> at line ${el.line} has no '${attr}' attribute`);
  return v;
}

function annotationsOf(el: XmlElement): Annotations {
  const a: Annotations = {};
  for (const c of el.children) if (c.name === 'annotation') a[need(c, 'name')] = need(c, 'value');
  return a;
}

function argsOf(el: XmlElement, defaultDirection: 'in' | 'out' | undefined): ArgInfo[] {
  const args: ArgInfo[] = [];
  for (const c of el.children) {
    if (c.name !== 'arg') continue;
    const arg: ArgInfo = { type: need(c, 'type') };
    if (c.attributes.name !== undefined) arg.name = c.attributes.name;
    const d = c.attributes.direction ?? defaultDirection;
    if (d !== undefined) {
      if (d !== 'in' && d !== 'out') throw new IntrospectionError(`<arg> at line ${c.line} has direction '${d}' (expected in or out)`);
      arg.direction = d;
    }
    args.push(arg);
  }
  return args;
}

function interfaceOf(el: XmlElement): InterfaceInfo {
  const iface: InterfaceInfo = { name: need(el, 'name'), methods: [], signals: [], properties: [], annotations: annotationsOf(el) };
  for (const c of el.children) {
    if (c.name === 'method') iface.methods.push({ name: need(c, 'name'), args: argsOf(c, 'in'), annotations: annotationsOf(c) });
    else if (c.name === 'signal') iface.signals.push({ name: need(c, 'name'), args: argsOf(c, undefined).map(({ direction: _d, ...a }) => a), annotations: annotationsOf(c) });
    else if (c.name === 'property') {
      const access = need(c, 'access');
      if (access !== 'read' && access !== 'write' && access !== 'readwrite') {
        throw new IntrospectionError(`property '${c.attributes.name}' has access '${access}' (expected read, write or readwrite)`);
      }
      iface.properties.push({ name: need(c, 'name'), type: need(c, 'type'), access, annotations: annotationsOf(c) });
    }
  }
  return iface;
}

function nodeOf(el: XmlElement): NodeInfo {
  if (el.name !== 'node') throw new IntrospectionError(`expected <node>, found <${el.name}>`);
  const node: NodeInfo = { interfaces: [], nodes: [] };
  if (el.attributes.name !== undefined) node.name = el.attributes.name;
  for (const c of el.children) {
    if (c.name === 'interface') node.interfaces.push(interfaceOf(c));
    else if (c.name === 'node') node.nodes.push(nodeOf(c));
  }
  return node;
}

/** Parses introspection XML; throws IntrospectionError with the line of the fault. */
export function parseIntrospection(xml: string): NodeInfo {
  return nodeOf(parseXml(xml));
}

const DOCTYPE =
  '<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"\n "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n';

function formatAnnotations(a: Annotations, indent: string, out: string[]): void {
  for (const [k, v] of Object.entries(a)) out.push(`${indent}<annotation name="${escapeXml(k)}" value="${escapeXml(v)}"/>`);
}

function formatArg(a: ArgInfo, withDirection: boolean): string {
  const name = a.name !== undefined ? ` name="${escapeXml(a.name)}"` : '';
  const dir = withDirection ? ` direction="${a.direction ?? 'in'}"` : '';
  return `<arg${name} type="${escapeXml(a.type)}"${dir}/>`;
}

/** Formats an interface as XML lines at `indent`. */
export function formatInterface(iface: InterfaceInfo, indent = '  '): string {
  const out: string[] = [];
  const i2 = indent + '  ';
  const i3 = i2 + '  ';
  out.push(`${indent}<interface name="${escapeXml(iface.name)}">`);
  for (const m of iface.methods) {
    out.push(`${i2}<method name="${escapeXml(m.name)}">`);
    for (const a of m.args) out.push(i3 + formatArg(a, true));
    formatAnnotations(m.annotations, i3, out);
    out.push(`${i2}</method>`);
  }
  for (const s of iface.signals) {
    out.push(`${i2}<signal name="${escapeXml(s.name)}">`);
    for (const a of s.args) out.push(i3 + formatArg(a, false));
    formatAnnotations(s.annotations, i3, out);
    out.push(`${i2}</signal>`);
  }
  for (const p of iface.properties) {
    const head = `${i2}<property name="${escapeXml(p.name)}" type="${escapeXml(p.type)}" access="${p.access}"`;
    if (Object.keys(p.annotations).length === 0) out.push(`${head}/>`);
    else {
      out.push(`${head}>`);
      formatAnnotations(p.annotations, i3, out);
      out.push(`${i2}</property>`);
    }
  }
  formatAnnotations(iface.annotations, i2, out);
  out.push(`${indent}</interface>`);
  return out.join('\n');
}

function formatNode(node: NodeInfo, indent: string, out: string[]): void {
  const name = node.name !== undefined ? ` name="${escapeXml(node.name)}"` : '';
  if (node.interfaces.length === 0 && node.nodes.length === 0) {
    out.push(`${indent}<node${name}/>`);
    return;
  }
  out.push(`${indent}<node${name}>`);
  for (const iface of node.interfaces) out.push(formatInterface(iface, `${indent}  `));
  for (const child of node.nodes) formatNode(child, `${indent}  `, out);
  out.push(`${indent}</node>`);
}

/** Formats a node as introspection XML (with the standard doctype). */
export function formatIntrospection(node: NodeInfo): string {
  const out: string[] = [];
  formatNode(node, '', out);
  return DOCTYPE + out.join('\n') + '\n';
}

/** The in and out signatures of a method (concatenated complete types). */
export function methodSignatures(m: MethodInfo): { in: string; out: string } {
  let i = '';
  let o = '';
  for (const a of m.args) {
    if (a.direction === 'out') o += a.type;
    else i += a.type;
  }
  return { in: i, out: o };
}
