// TypeScript from introspection data: for each interface, a proxy type (its
// methods returning promises, for ProxyObject.getInterface<T>()), a type of
// its properties, an implementation type for services, and the
// defineInterface() definition itself. Types follow how fastbus decodes:
// x/t bigint, ay Uint8Array, dicts with string keys plain objects.
import { parseSignature, type SignatureType } from '../wire/index.js';
import type { ArgInfo, InterfaceInfo, MethodInfo, NodeInfo } from './introspection.js';

export interface CodegenOptions {
  /** Module the generated code imports fastbus from (default 'fastbus'). */
  importFrom?: string;
  /** Only these interfaces (default: all but org.freedesktop.DBus.*). */
  interfaces?: string[];
  /** Where the XML came from, for the header comment. */
  source?: string;
}

/** The TypeScript type of one complete type. */
export function tsType(t: SignatureType): string {
  switch (t.code) {
    case 'y': case 'n': case 'q': case 'i': case 'u': case 'd': case 'h':
      return 'number';
    case 'x': case 't':
      return 'bigint';
    case 'b':
      return 'boolean';
    case 's': case 'o': case 'g':
      return 'string';
    case 'v':
      return 'Variant';
    case 'a': {
      const el = t.element!;
      if (el.code === 'y') return 'Uint8Array';
      if (el.code === '{') {
        const [k, v] = el.fields!;
        if (k.code === 's' || k.code === 'o' || k.code === 'g') return `Record<string, ${tsType(v)}>`;
        return `Map<${tsType(k)}, ${tsType(v)}>`;
      }
      const inner = tsType(el);
      return /^[\w.<>, ]+$/.test(inner) && !inner.includes(',') ? `${inner}[]` : `Array<${inner}>`;
    }
    case '(':
      return `[${t.fields!.map(tsType).join(', ')}]`;
    default:
      return 'unknown';
  }
}

function typeOf(signature: string): string {
  return tsType(parseSignature(signature)[0]);
}

/** 'com.example.Foo_bar' -> 'ComExampleFooBar'. */
export function typeName(interfaceName: string): string {
  return interfaceName.split(/[._]/).filter(Boolean).map((p) => p[0].toUpperCase() + p.slice(1)).join('');
}

const RESERVED = new Set(['break', 'case', 'catch', 'class', 'const', 'continue', 'debugger', 'default', 'delete', 'do', 'else', 'enum', 'export', 'extends', 'false', 'finally', 'for', 'function', 'if', 'import', 'in', 'instanceof', 'new', 'null', 'return', 'super', 'switch', 'this', 'throw', 'true', 'try', 'typeof', 'var', 'void', 'while', 'with', 'yield', 'let', 'static', 'implements', 'interface', 'package', 'private', 'protected', 'public', 'await', 'arguments', 'eval', 'invocation', 'options']);

function argNames(args: ArgInfo[]): string[] {
  const seen = new Set<string>();
  return args.map((a, i) => {
    let n = (a.name ?? '').replace(/[^A-Za-z0-9_$]/g, '_');
    if (n === '' || /^\d/.test(n) || RESERVED.has(n)) n = `arg${i}${n && !/^\d/.test(n) ? `_${n}` : ''}`;
    while (seen.has(n)) n += '_';
    seen.add(n);
    return n;
  });
}

function outType(outs: ArgInfo[]): string {
  if (outs.length === 0) return 'void';
  if (outs.length === 1) return typeOf(outs[0].type);
  return `[${outs.map((a) => typeOf(a.type)).join(', ')}]`;
}

/** A method's typed in-args (then `last`) as a parameter list, and its out-args as one type. */
function methodSignature(m: MethodInfo, last: string): { params: string; out: string } {
  const ins = m.args.filter((a) => a.direction !== 'out');
  const names = argNames(ins);
  const params = ins.map((a, i) => `${names[i]}: ${typeOf(a.type)}`);
  params.push(last);
  return { params: params.join(', '), out: outType(m.args.filter((a) => a.direction === 'out')) };
}

function key(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name);
}

function argSpec(args: ArgInfo[]): string {
  return `[${args.map((a) => (a.name !== undefined ? `{ name: ${JSON.stringify(a.name)}, type: ${JSON.stringify(a.type)} }` : `{ type: ${JSON.stringify(a.type)} }`)).join(', ')}]`;
}

function doc(lines: string[], indent: string, text: string): void {
  lines.push(`${indent}/** ${text.replace(/\*\//g, '* /')} */`);
}

function generateInterface(iface: InterfaceInfo): string {
  const T = typeName(iface.name);
  const L: string[] = [];
  L.push(`// ${iface.name}`, '');
  doc(L, '', `Proxy methods of ${iface.name}: use with \`proxyObject.getInterface<${T}>(${JSON.stringify(iface.name)})\`.`);
  L.push(`export interface ${T} {`);
  for (const m of iface.methods) {
    const { params, out } = methodSignature(m, 'options?: CallOptions');
    if (m.annotations['org.freedesktop.DBus.Deprecated'] === 'true') doc(L, '  ', '@deprecated');
    L.push(`  ${key(m.name)}(${params}): Promise<${out}>;`);
  }
  L.push('}', '');
  doc(L, '', `Properties of ${iface.name} (read with \`get\`, write with \`set\`).`);
  L.push(`export interface ${T}Properties {`);
  for (const p of iface.properties) {
    L.push(`  ${p.access === 'read' ? 'readonly ' : ''}${key(p.name)}: ${typeOf(p.type)};`);
  }
  L.push('}', '');
  doc(L, '', `Signal arguments of ${iface.name}, by signal name.`);
  L.push(`export interface ${T}Signals {`);
  for (const s of iface.signals) L.push(`  ${key(s.name)}: [${s.args.map((a) => typeOf(a.type)).join(', ')}];`);
  L.push('}', '');
  doc(L, '', `What a service implements for ${iface.name}: methods get their in-args then an Invocation.`);
  L.push(`export interface ${T}Implementation {`);
  for (const m of iface.methods) {
    const { params, out } = methodSignature(m, 'invocation: Invocation');
    L.push(`  ${key(m.name)}(${params}): ${out} | Promise<${out}>;`);
  }
  for (const p of iface.properties) L.push(`  ${key(p.name)}: ${typeOf(p.type)};`);
  L.push('}', '');
  doc(L, '', `The definition of ${iface.name}, for \`connection.export(path, ${T}Interface, implementation)\`.`);
  L.push(`export const ${T}Interface = defineInterface({`);
  L.push(`  name: ${JSON.stringify(iface.name)},`);
  L.push('  methods: {');
  for (const m of iface.methods) {
    const ins = m.args.filter((a) => a.direction !== 'out');
    const outs = m.args.filter((a) => a.direction === 'out');
    L.push(`    ${key(m.name)}: { in: ${argSpec(ins)}, out: ${argSpec(outs)} },`);
  }
  L.push('  },', '  properties: {');
  for (const p of iface.properties) L.push(`    ${key(p.name)}: { type: ${JSON.stringify(p.type)}, access: ${JSON.stringify(p.access)} },`);
  L.push('  },', '  signals: {');
  for (const s of iface.signals) L.push(`    ${key(s.name)}: { args: ${argSpec(s.args)} },`);
  L.push('  },', '});', '');
  return L.join('\n');
}

/** Generates a TypeScript module for the interfaces of `node`. */
export function generateTypeScript(node: NodeInfo, options: CodegenOptions = {}): string {
  const from = options.importFrom ?? 'fastbus';
  const wanted = options.interfaces;
  const ifaces = node.interfaces.filter((i) => (wanted ? wanted.includes(i.name) : !i.name.startsWith('org.freedesktop.DBus.')));
  if (wanted) {
    const missing = wanted.filter((w) => !ifaces.some((i) => i.name === w));
    if (missing.length) throw new Error(`no interface ${missing.join(', ')} in the introspection data`);
  }
  const head = [
    `// Generated by \`fastbus codegen\`${options.source ? ` from ${options.source}` : ''}. Do not edit.`,
    `import { defineInterface } from ${JSON.stringify(from)};`,
    `import type { CallOptions, Invocation, Variant } from ${JSON.stringify(from)};`,
    '',
    '// Keep the type-only imports used even when no signature needs them.',
    'export type { CallOptions, Invocation, Variant };',
    '',
  ];
  return head.join('\n') + ifaces.map(generateInterface).join('\n');
}
