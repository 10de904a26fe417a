// Services: an interface is defined once, as data (no decorators), with
// `defineInterface({ name, methods, properties, signals })`; the definition
// gives the introspection data and the signatures the dispatcher checks.
// Implementations are plain objects: methods are functions, properties are
// fields or accessors.
import { parseSignature } from '../wire/index.js';
import { isValidInterfaceName, isValidMemberName } from '../names/index.js';
import type { Annotations, ArgInfo, InterfaceInfo, PropertyAccess } from './introspection.js';

/** Arguments: a signature ('si'), or a list of named args. */
export type ArgsSpec = string | readonly { name?: string; type: string }[];

export interface MethodSpec {
  in?: ArgsSpec;
  out?: ArgsSpec;
  annotations?: Annotations;
}

export interface PropertySpec {
  type: string;
  /** Default 'read'. */
  access?: PropertyAccess;
  annotations?: Annotations;
}

export interface SignalSpec {
  args?: ArgsSpec;
  annotations?: Annotations;
}

export interface InterfaceSpec {
  name: string;
  methods?: Record<string, MethodSpec>;
  properties?: Record<string, PropertySpec>;
  signals?: Record<string, SignalSpec>;
  annotations?: Annotations;
}

/** What the dispatcher needs about one member: concatenated signatures and counts. */
export interface MemberSignature {
  in: string;
  out: string;
  outCount: number;
}

/** A defined interface: its introspection data and per-member signatures. */
export interface InterfaceDefinition<S extends InterfaceSpec = InterfaceSpec> {
  readonly name: string;
  readonly spec: S;
  readonly info: InterfaceInfo;
  readonly methods: ReadonlyMap<string, MemberSignature>;
  readonly properties: ReadonlyMap<string, { type: string; access: PropertyAccess }>;
  readonly signals: ReadonlyMap<string, string>;
}

/** Context a method handler receives as its last argument. */
export interface Invocation {
  /** The caller's unique name. */
  sender: string | undefined;
  /** The name the call was sent to (a unique or well-known name). */
  destination: string | undefined;
  path: string;
  interface: string;
  member: string;
  /** The unix fds that came with the call. */
  fds: number[] | undefined;
}

/**
 * An implementation of `S`: each method a function taking the in-args then an
 * Invocation and returning the out value (one out-arg), an array (several) or
 * nothing, possibly as a promise; each property a field or accessor.
 */
export type Implementation<S extends InterfaceSpec> = {
  -readonly [K in keyof S['methods']]: (...args: any[]) => unknown;
} & {
  -readonly [K in keyof S['properties']]: S['properties'] extends Record<K, { type: infer T extends string }> ? ValueOf<T> : any;
};

interface BasicTypes {
  y: number; n: number; q: number; i: number; u: number; d: number; h: number;
  x: bigint; t: bigint; b: boolean; s: string; o: string; g: string;
}

/** The JavaScript type of a signature: basic types and arrays of them; `any` for the rest (see codegen for full types). */
export type ValueOf<T extends string> = T extends keyof BasicTypes
  ? BasicTypes[T]
  : T extends `a${infer E}`
    ? E extends 'y' ? Uint8Array : E extends keyof BasicTypes ? BasicTypes[E][] : any
    : any;

function args(spec: ArgsSpec | undefined, where: string, direction?: 'in' | 'out'): ArgInfo[] {
  if (spec === undefined) return [];
  const list = typeof spec === 'string' ? parseSignature(spec).map((t) => ({ type: t.signature })) : spec;
  return list.map((a, i) => {
    const types = parseSignature(a.type);
    if (types.length !== 1) throw new TypeError(`${where}: argument ${i} must be one complete type, got '${a.type}'`);
    const arg: ArgInfo = { type: a.type };
    if ('name' in a && a.name !== undefined) arg.name = a.name;
    if (direction) arg.direction = direction;
    return arg;
  });
}

/** Defines an interface; throws TypeError for an invalid name or signature. */
export function defineInterface<const S extends InterfaceSpec>(spec: S): InterfaceDefinition<S> {
  if (!isValidInterfaceName(spec.name)) throw new TypeError(`defineInterface: '${spec.name}' is not a valid interface name`);
  const info: InterfaceInfo = { name: spec.name, methods: [], signals: [], properties: [], annotations: { ...spec.annotations } };
  const methods = new Map<string, MemberSignature>();
  const properties = new Map<string, { type: string; access: PropertyAccess }>();
  const signals = new Map<string, string>();
  const checkMember = (kind: string, name: string): void => {
    if (!isValidMemberName(name)) throw new TypeError(`defineInterface(${spec.name}): ${kind} '${name}' is not a valid member name`);
  };
  for (const [name, m] of Object.entries(spec.methods ?? {})) {
    checkMember('method', name);
    const inArgs = args(m.in, `${spec.name}.${name} in`, 'in');
    const outArgs = args(m.out, `${spec.name}.${name} out`, 'out');
    info.methods.push({ name, args: [...inArgs, ...outArgs], annotations: { ...m.annotations } });
    methods.set(name, { in: inArgs.map((a) => a.type).join(''), out: outArgs.map((a) => a.type).join(''), outCount: outArgs.length });
  }
  for (const [name, p] of Object.entries(spec.properties ?? {})) {
    checkMember('property', name);
    if (parseSignature(p.type).length !== 1) throw new TypeError(`defineInterface(${spec.name}): property '${name}' must have one complete type, got '${p.type}'`);
    const access = p.access ?? 'read';
    info.properties.push({ name, type: p.type, access, annotations: { ...p.annotations } });
    properties.set(name, { type: p.type, access });
  }
  for (const [name, s] of Object.entries(spec.signals ?? {})) {
    checkMember('signal', name);
    const sArgs = args(s.args, `${spec.name}.${name}`);
    info.signals.push({ name, args: sArgs, annotations: { ...s.annotations } });
    signals.set(name, sArgs.map((a) => a.type).join(''));
  }
  return { name: spec.name, spec, info, methods, properties, signals };
}
