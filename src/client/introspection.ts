// Introspection data (D-Bus specification, "Introspection Data Format"): the
// XML that org.freedesktop.DBus.Introspectable.Introspect returns, parsed into
// plain objects and formatted back. The parser reads only this small XML
// dialect (elements, attributes, entities, comments, doctype); text is ignored.

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

interface Element {
  tag: string;
  attrs: Record<string, string>;
  children: Element[];
  offset: number;
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function unescapeXml(s: string, at: number): string {
  return s.replace(/&([^;&\s]*);?/g, (whole, name: string) => {
    if (!whole.endsWith(';')) throw new IntrospectionError(`bad entity '${whole}' near offset ${at}`);
    if (name.startsWith('#')) {
      const hex = name[1] === 'x' || name[1] === 'X';
      const digits = name.slice(hex ? 2 : 1);
      const code = (hex ? /^[0-9a-fA-F]{1,6}$/ : /^[0-9]{1,7}$/).test(digits) ? parseInt(digits, hex ? 16 : 10) : NaN;
      if (!(code >= 1 && code <= 0x10ffff)) throw new IntrospectionError(`bad character reference '${whole}' near offset ${at}`);
      return String.fromCodePoint(code);
    }
    const v = ENTITIES[name];
    if (v === undefined) throw new IntrospectionError(`unknown entity '&${name};' near offset ${at}`);
    return v;
  });
}

const XML_ESCAPES: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', '\n': '&#10;', '\r': '&#13;', '\t': '&#9;' };

/** Escapes an attribute value (line breaks and tabs too, which XML parsers would turn into spaces). */
function escapeXml(s: string): string {
  return s.replace(/[<>&"\n\r\t]/g, (c) => XML_ESCAPES[c]);
}

const NAME = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;
const SPACE = /\s*/y;
const ATTR_VALUE = /"([^"]*)"|'([^']*)'/y;

/** Parses XML into a tree of elements (the root element only). */
function parseXml(xml: string): Element {
  let i = 0;
  const fail = (what: string): never => {
    const line = xml.slice(0, i).split('\n').length;
    throw new IntrospectionError(`introspection XML line ${line}: ${what}`);
  };
  const skipSpace = (): void => {
    SPACE.lastIndex = i;
    SPACE.exec(xml);
    i = SPACE.lastIndex;
  };
  const name = (): string => {
    NAME.lastIndex = i;
    const m = NAME.exec(xml);
    if (!m) fail(`expected a name at '${xml.slice(i, i + 10)}'`);
    i = NAME.lastIndex;
    return m![0];
  };
  const stack: Element[] = [];
  let root: Element | undefined;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    if (lt < 0) {
      if (xml.slice(i).trim() !== '' && stack.length === 0) fail('text outside the root element');
      i = xml.length;
      break;
    }
    if (stack.length === 0 && xml.slice(i, lt).trim() !== '') fail('text outside the root element');
    i = lt;
    if (xml.startsWith('<!--', i)) {
      const end = xml.indexOf('-->', i + 4);
      if (end < 0) fail('unterminated comment');
      i = end + 3;
    } else if (xml.startsWith('<?', i)) {
      const end = xml.indexOf('?>', i + 2);
      if (end < 0) fail('unterminated processing instruction');
      i = end + 2;
    } else if (xml.startsWith('<![CDATA[', i)) {
      const end = xml.indexOf(']]>', i);
      if (end < 0) fail('unterminated CDATA section');
      i = end + 3;
    } else if (xml.startsWith('<!', i)) {
      // A doctype: skip to its '>' (an internal subset in [...] is allowed).
      let depth = 0;
      let j = i + 2;
      for (; j < xml.length; j++) {
        const c = xml[j];
        if (c === '[') depth++;
        else if (c === ']') depth--;
        else if (c === '>' && depth === 0) break;
      }
      if (j >= xml.length) fail('unterminated declaration');
      i = j + 1;
    } else if (xml.startsWith('</', i)) {
      i += 2;
      const tag = name();
      skipSpace();
      if (xml[i] !== '>') fail(`expected '>' after '</${tag}'`);
      i++;
      const open = stack.pop();
      if (!open) fail(`closing tag </${tag}> without an opening tag`);
      if (open!.tag !== tag) fail(`</${tag}> closes <${open!.tag}>`);
      if (stack.length === 0) root = open;
    } else {
      if (root) fail('more than one root element');
      const offset = i;
      i++;
      const el: Element = { tag: name(), attrs: Object.create(null) as Record<string, string>, children: [], offset };
      for (;;) {
        skipSpace();
        if (xml.startsWith('/>', i)) {
          i += 2;
          if (stack.length === 0) root = el;
          else stack[stack.length - 1].children.push(el);
          break;
        }
        if (xml[i] === '>') {
          i++;
          if (stack.length > 0) stack[stack.length - 1].children.push(el);
          stack.push(el);
          break;
        }
        if (i >= xml.length) fail(`unterminated <${el.tag}>`);
        const key = name();
        skipSpace();
        if (xml[i] !== '=') fail(`attribute '${key}' of <${el.tag}> has no value`);
        i++;
        skipSpace();
        ATTR_VALUE.lastIndex = i;
        const m = ATTR_VALUE.exec(xml);
        if (!m) fail(`attribute '${key}' of <${el.tag}> has an unquoted value`);
        i = ATTR_VALUE.lastIndex;
        if (key in el.attrs) fail(`attribute '${key}' repeated in <${el.tag}>`);
        el.attrs[key] = unescapeXml(m![1] ?? m![2], i);
      }
    }
  }
  if (stack.length > 0) fail(`<${stack[stack.length - 1].tag}> is not closed`);
  if (!root) fail('no root element');
  return root!;
}

function need(el: Element, attr: string): string {
  const v = el.attrs[attr];
  if (v === undefined) throw new IntrospectionError(`<${el.tag}> at offset ${el.offset} has no '${attr}' attribute`);
  return v;
}

function annotationsOf(el: Element): Annotations {
  const a: Annotations = {};
  for (const c of el.children) if (c.tag === 'annotation') a[need(c, 'name')] = need(c, 'value');
  return a;
}

function argsOf(el: Element, defaultDirection: 'in' | 'out' | undefined): ArgInfo[] {
  const args: ArgInfo[] = [];
  for (const c of el.children) {
    if (c.tag !== 'arg') continue;
    const arg: ArgInfo = { type: need(c, 'type') };
    if (c.attrs.name !== undefined) arg.name = c.attrs.name;
    const d = c.attrs.direction ?? defaultDirection;
    if (d !== undefined) {
      if (d !== 'in' && d !== 'out') throw new IntrospectionError(`<arg> at offset ${c.offset} has direction '${d}' (expected in or out)`);
      arg.direction = d;
    }
    args.push(arg);
  }
  return args;
}

function interfaceOf(el: Element): InterfaceInfo {
  const iface: InterfaceInfo = { name: need(el, 'name'), methods: [], signals: [], properties: [], annotations: annotationsOf(el) };
  for (const c of el.children) {
    if (c.tag === 'method') iface.methods.push({ name: need(c, 'name'), args: argsOf(c, 'in'), annotations: annotationsOf(c) });
    else if (c.tag === 'signal') iface.signals.push({ name: need(c, 'name'), args: argsOf(c, undefined).map(({ direction: _d, ...a }) => a), annotations: annotationsOf(c) });
    else if (c.tag === 'property') {
      const access = need(c, 'access');
      if (access !== 'read' && access !== 'write' && access !== 'readwrite') {
        throw new IntrospectionError(`property '${c.attrs.name}' has access '${access}' (expected read, write or readwrite)`);
      }
      iface.properties.push({ name: need(c, 'name'), type: need(c, 'type'), access, annotations: annotationsOf(c) });
    }
  }
  return iface;
}

function nodeOf(el: Element): NodeInfo {
  if (el.tag !== 'node') throw new IntrospectionError(`expected <node>, found <${el.tag}>`);
  const node: NodeInfo = { interfaces: [], nodes: [] };
  if (el.attrs.name !== undefined) node.name = el.attrs.name;
  for (const c of el.children) {
    if (c.tag === 'interface') node.interfaces.push(interfaceOf(c));
    else if (c.tag === 'node') node.nodes.push(nodeOf(c));
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
