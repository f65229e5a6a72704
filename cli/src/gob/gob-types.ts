/**
 * Type descriptors for Go's encoding/gob, enough for the cf CLI plugin protocol: the six basic types, structs,
 * slices and maps. A descriptor object stands for one Go type: the encoder gives each object one type id per
 * stream, in the order Go's `gob` assigns them, so the bytes equal what a fresh Go process writes.
 * Pointers are transparent in gob (`*T` is sent as `T`); in values, an absent (`undefined`) struct field is a nil
 * pointer and is omitted, while a present object is always sent, as Go sends non-pointer struct fields.
 */

/** Go's predefined type ids (encoding/gob type.go). */
export const GOB_BUILTIN_IDS = {
  bool: 1,
  int: 2,
  uint: 3,
  float: 4,
  bytes: 5,
  string: 6,
  complex: 7,
  interface: 8,
  wireType: 16,
  arrayType: 17,
  commonType: 18,
  sliceType: 19,
  structType: 20,
  fieldType: 21,
  mapType: 23,
} as const;

/** The first id `gob` gives a user type. */
export const GOB_FIRST_USER_ID = 65;

export interface GobBasic {
  readonly kind: 'bool' | 'int' | 'uint' | 'float' | 'bytes' | 'string';
}

export interface GobField {
  readonly name: string;
  readonly type: GobType;
}

/** `name` is what Go writes: the type's own name (`PluginMetadata`), or `t.String()` for unnamed field types. */
export interface GobStruct {
  readonly kind: 'struct';
  readonly name: string;
  readonly fields: readonly GobField[];
}

export interface GobSlice {
  readonly kind: 'slice';
  readonly name: string;
  readonly elem: GobType;
}

export interface GobMap {
  readonly kind: 'map';
  readonly name: string;
  readonly key: GobType;
  readonly elem: GobType;
}

export type GobType = GobBasic | GobStruct | GobSlice | GobMap;

export const gobBool: GobBasic = { kind: 'bool' };
export const gobInt: GobBasic = { kind: 'int' };
export const gobUint: GobBasic = { kind: 'uint' };
export const gobFloat: GobBasic = { kind: 'float' };
export const gobBytes: GobBasic = { kind: 'bytes' };
export const gobString: GobBasic = { kind: 'string' };

export function gobStruct(name: string, fields: Record<string, GobType>): GobStruct {
  return { kind: 'struct', name, fields: Object.entries(fields).map(([n, type]) => ({ name: n, type })) };
}

/** `name` as Go spells an unnamed slice in a struct field: `[]plugin.Command`. */
export function gobSlice(elem: GobType, name: string): GobSlice {
  return { kind: 'slice', name, elem };
}

export function gobMap(key: GobType, elem: GobType, name: string): GobMap {
  return { kind: 'map', name, key, elem };
}

/** A decoded or encodable gob value. Integers beyond 2^53 are bigints; maps decode as `Map`. */
export type GobValue =
  | boolean
  | number
  | bigint
  | string
  | Buffer
  | readonly GobValue[]
  | ReadonlyMap<GobValue, GobValue>
  | { readonly [field: string]: GobValue | undefined };

export class GobError extends Error {
  constructor(message: string) {
    super(`gob: ${message}`);
    this.name = 'GobError';
  }
}
