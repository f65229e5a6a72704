import {
  GOB_BUILTIN_IDS,
  GOB_FIRST_USER_ID,
  GobError,
  type GobStruct,
  type GobType,
  type GobValue,
} from './gob-types';
import { GobWriter } from './gob-wire';

// Field numbers of gob's own wireType, structType, ... (encoding/gob type.go).
const WIRE_SLICE = 1;
const WIRE_STRUCT = 2;
const WIRE_MAP = 3;

/**
 * One gob encoder for one byte stream (Go's `gob.NewEncoder`): type definitions go out once, before the first
 * value of that type; ids are given in the order Go gives them (a struct before its fields' types, a slice or map
 * after its element types), so a fresh encoder writes exactly what a fresh Go process writes. Not thread-safe;
 * one per connection.
 */
export class GobEncoder {
  private readonly ids = new Map<GobType, number>();
  private readonly sent = new Set<GobType>();
  private nextId = GOB_FIRST_USER_ID;

  /** The bytes of the messages for `value`: definitions of types not yet sent, then the value message. */
  encode(type: GobType, value: GobValue): Buffer {
    const messages: Buffer[] = [];
    this.sendType(type, messages);
    const w = new GobWriter();
    w.int(this.idOf(type));
    if (type.kind === 'struct') {
      this.encodeStruct(w, type, value);
    } else {
      w.uint(0); // a top-level non-struct value is field 0 of an implicit struct, always sent
      this.encodeValue(w, type, value);
    }
    messages.push(frame(w));
    return Buffer.concat(messages);
  }

  private idOf(type: GobType): number {
    switch (type.kind) {
      case 'bool':
      case 'int':
      case 'uint':
      case 'float':
      case 'bytes':
      case 'string':
        return GOB_BUILTIN_IDS[type.kind];
      case 'struct': {
        const known = this.ids.get(type);
        if (known !== undefined) return known;
        const id = this.nextId++;
        this.ids.set(type, id);
        for (const f of type.fields) this.idOf(f.type);
        return id;
      }
      case 'slice': {
        const known = this.ids.get(type);
        if (known !== undefined) return known;
        if (type.elem.kind === 'bytes') throw new GobError('use gobBytes for []byte');
        this.idOf(type.elem);
        const id = this.nextId++;
        this.ids.set(type, id);
        return id;
      }
      case 'map': {
        const known = this.ids.get(type);
        if (known !== undefined) return known;
        this.idOf(type.key);
        this.idOf(type.elem);
        const id = this.nextId++;
        this.ids.set(type, id);
        return id;
      }
    }
  }

  /** Go's sendType: the type itself, then (depth first) the types it uses. Basic types are never sent. */
  private sendType(type: GobType, messages: Buffer[]): void {
    if (type.kind !== 'struct' && type.kind !== 'slice' && type.kind !== 'map') return;
    if (this.sent.has(type)) return;
    this.sent.add(type);
    const id = this.idOf(type);
    const w = new GobWriter();
    w.int(-id);
    const common = (name: string): void => {
      w.uint(1); // CommonType
      if (name !== '') {
        w.uint(1);
        w.string(name);
        w.uint(1);
      } else {
        w.uint(2);
      }
      w.int(id);
      w.uint(0);
    };
    switch (type.kind) {
      case 'struct':
        w.uint(WIRE_STRUCT + 1);
        common(type.name);
        if (type.fields.length > 0) {
          w.uint(1); // Field []fieldType
          w.uint(type.fields.length);
          for (const f of type.fields) {
            w.uint(1);
            w.string(f.name);
            w.uint(1);
            w.int(this.idOf(f.type));
            w.uint(0);
          }
        }
        w.uint(0);
        break;
      case 'slice':
        w.uint(WIRE_SLICE + 1);
        common(type.name);
        w.uint(1);
        w.int(this.idOf(type.elem));
        w.uint(0);
        break;
      case 'map':
        w.uint(WIRE_MAP + 1);
        common(type.name);
        w.uint(1);
        w.int(this.idOf(type.key));
        w.uint(1);
        w.int(this.idOf(type.elem));
        w.uint(0);
        break;
    }
    w.uint(0); // end of wireType
    messages.push(frame(w));
    switch (type.kind) {
      case 'struct':
        for (const f of type.fields) this.sendType(f.type, messages);
        break;
      case 'slice':
        this.sendType(type.elem, messages);
        break;
      case 'map':
        this.sendType(type.key, messages);
        this.sendType(type.elem, messages);
        break;
    }
  }

  private encodeStruct(w: GobWriter, type: GobStruct, value: GobValue): void {
    if (!isRecord(value)) throw new GobError(`${type.name}: expected an object`);
    let last = -1;
    type.fields.forEach((f, i) => {
      const v = value[f.name];
      if (isZero(f.type, v)) return;
      w.uint(i - last);
      last = i;
      this.encodeValue(w, f.type, v as GobValue);
    });
    w.uint(0);
  }

  private encodeValue(w: GobWriter, type: GobType, value: GobValue): void {
    switch (type.kind) {
      case 'bool':
        if (typeof value !== 'boolean') throw new GobError(`expected a boolean, got ${typeof value}`);
        w.uint(value ? 1 : 0);
        return;
      case 'int':
        w.int(integer(value));
        return;
      case 'uint':
        w.uint(integer(value));
        return;
      case 'float':
        if (typeof value !== 'number') throw new GobError(`expected a number, got ${typeof value}`);
        w.float(value);
        return;
      case 'bytes':
        if (!Buffer.isBuffer(value)) throw new GobError('expected a Buffer');
        w.byteString(value);
        return;
      case 'string':
        if (typeof value !== 'string') throw new GobError(`expected a string, got ${typeof value}`);
        w.string(value);
        return;
      case 'struct':
        this.encodeStruct(w, type, value);
        return;
      case 'slice': {
        if (!Array.isArray(value)) throw new GobError(`${type.name}: expected an array`);
        const items = value as readonly GobValue[];
        w.uint(items.length);
        for (const item of items) this.encodeValue(w, type.elem, item);
        return;
      }
      case 'map': {
        const entries = mapEntries(value, type.name);
        w.uint(entries.length);
        for (const [k, v] of entries) {
          this.encodeValue(w, type.key, k);
          this.encodeValue(w, type.elem, v);
        }
        return;
      }
    }
  }
}

function frame(w: GobWriter): Buffer {
  const body = w.bytes();
  const head = new GobWriter();
  head.uint(body.length);
  return Buffer.concat([head.bytes(), body]);
}

function isRecord(v: unknown): v is Record<string, GobValue | undefined> {
  return (
    typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v) && !(v instanceof Map)
  );
}

function integer(v: GobValue): number | bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  throw new GobError(`expected an integer, got ${typeof v}`);
}

function mapEntries(value: GobValue, name: string): Array<[GobValue, GobValue]> {
  if (value instanceof Map) return [...(value as ReadonlyMap<GobValue, GobValue>).entries()];
  if (isRecord(value)) {
    return Object.entries(value).filter((e): e is [string, GobValue] => e[1] !== undefined);
  }
  throw new GobError(`${name}: expected a Map or an object`);
}

/** Go omits zero-valued fields; a struct-valued field that is present is always sent (see gob-types.ts). */
function isZero(type: GobType, v: GobValue | undefined): boolean {
  if (v === undefined) return true;
  switch (type.kind) {
    case 'bool':
      return v === false;
    case 'int':
    case 'uint':
    case 'float':
      return v === 0 || v === 0n;
    case 'bytes':
      return Buffer.isBuffer(v) && v.length === 0;
    case 'string':
      return v === '';
    case 'slice':
      return Array.isArray(v) && v.length === 0;
    case 'map':
      return v instanceof Map ? v.size === 0 : isRecord(v) && mapEntries(v, type.name).length === 0;
    case 'struct':
      return false;
  }
}
