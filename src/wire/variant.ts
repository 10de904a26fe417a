// A variant (D-Bus type `v`): a value together with the signature of its one
// complete type. Decoders produce them; encoders require them wherever the
// signature says `v`, and check `value` against `signature`.

/** A value with its own signature, e.g. `new Variant('as', ['a', 'b'])`. */
export class Variant<T = unknown> {
  /** A single complete type (`s`, `a{sv}`, `(ii)`). */
  signature: string;
  value: T;
  constructor(signature: string, value: T) {
    this.signature = signature;
    this.value = value;
  }
}
