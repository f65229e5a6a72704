import { GOB_BUILTIN_IDS, GOB_FIRST_USER_ID, GobError, type GobValue } from './gob-types';
import { GobReader } from './gob-wire';

/** A type definition as received (Go's wireType), keyed by the sender's id. */
type WireType =
  | {
      readonly kind: 'struct';
      readonly name: string;
      readonly fields: ReadonlyArray<{ name: string; id: number }>;
    }
  | { readonly kind: 'slice'; readonly name: string; readonly elem: number }
  | { readonly kind: 'array'; readonly name: string; readonly elem: number; readonly len: number }
  | { readonly kind: 'map'; readonly name: string; readonly key: number; readonly elem: number }
  | { readonly kind: 'opaque'; readonly name: string };

/** One decoded value message. Struct values are plain objects with the fields that were sent (zero fields are not). */
export interface GobMessage {
  readonly typeId: number;
  /** The sender's type name for user types ('' for basic types). */
  readonly typeName: string;
  readonly value: GobValue;
}

const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * One gob decoder for one byte stream (Go's `gob.NewDecoder`), push-driven: feed chunks split anywhere, take
 * values with {@link next}. Decodes by the sender's type definitions (field names, not type names, matter), so
 * no schema is needed; the caller checks the shape. Interfaces and GobEncoder types are refused.
 */
export class GobDecoder {
  private readonly types = new Map<number, WireType>();
  private buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
  }

  /** Bytes received but not yet consumed. */
  get buffered(): number {
    return this.buffer.length;
  }

  /** The next value whose message is complete (type definitions before it are consumed), else `undefined`. */
  next(): GobMessage | undefined {
    for (;;) {
      const message = this.takeMessage();
      if (message === undefined) return undefined;
      const r = new GobReader(message);
      const id = r.intBig();
      if (id < 0n) {
        this.types.set(Number(-id), decodeWireType(r));
        continue;
      }
      const typeId = Number(id);
      const wire = this.types.get(typeId);
      let value: GobValue;
      if (wire?.kind === 'struct') {
        value = this.decodeStruct(r, wire);
      } else {
        if (r.count() !== 0) throw new GobError('non-zero delta for a top-level non-struct value');
        value = this.decodeValue(r, typeId);
      }
      return { typeId, typeName: wire?.name ?? '', value };
    }
  }

  private takeMessage(): Buffer | undefined {
    const b = this.buffer;
    const first = b[0];
    if (first === undefined) return undefined;
    let length: number;
    let head: number;
    if (first < 128) {
      length = first;
      head = 1;
    } else {
      const n = 256 - first;
      if (n > 8) throw new GobError('bad message length');
      if (b.length < 1 + n) return undefined;
      length = 0;
      for (let i = 1; i <= n; i++) length = length * 256 + b[i]!;
      head = 1 + n;
    }
    if (length > MAX_MESSAGE_BYTES) throw new GobError(`message of ${length} bytes`);
    if (length === 0) throw new GobError('empty message');
    if (b.length < head + length) return undefined;
    const message = b.subarray(head, head + length);
    this.buffer = b.subarray(head + length);
    return message;
  }

  private decodeStruct(r: GobReader, wire: Extract<WireType, { kind: 'struct' }>): GobValue {
    const out: Record<string, GobValue> = {};
    let field = -1;
    for (;;) {
      const delta = r.count();
      if (delta === 0) return out;
      field += delta;
      const f = wire.fields[field];
      if (f === undefined) throw new GobError(`${wire.name}: field ${field} does not exist`);
      out[f.name] = this.decodeValue(r, f.id);
    }
  }

  private decodeValue(r: GobReader, id: number): GobValue {
    switch (id) {
      case GOB_BUILTIN_IDS.bool:
        return r.count() !== 0;
      case GOB_BUILTIN_IDS.int:
        return r.int();
      case GOB_BUILTIN_IDS.uint:
        return r.uint();
      case GOB_BUILTIN_IDS.float:
        return r.float();
      case GOB_BUILTIN_IDS.bytes:
        return r.byteString();
      case GOB_BUILTIN_IDS.string:
        return r.string();
      default:
        break;
    }
    const wire = this.types.get(id);
    if (wire === undefined) {
      throw new GobError(id < GOB_FIRST_USER_ID ? `type id ${id} is not supported` : `unknown type id ${id}`);
    }
    switch (wire.kind) {
      case 'struct':
        return this.decodeStruct(r, wire);
      case 'slice':
      case 'array': {
        const n = r.count();
        const items: GobValue[] = [];
        for (let i = 0; i < n; i++) items.push(this.decodeValue(r, wire.elem));
        return items;
      }
      case 'map': {
        const n = r.count();
        const map = new Map<GobValue, GobValue>();
        for (let i = 0; i < n; i++) {
          const k = this.decodeValue(r, wire.key);
          map.set(k, this.decodeValue(r, wire.elem));
        }
        return map;
      }
      case 'opaque':
        throw new GobError(`${wire.name}: GobEncoder/Marshaler types are not supported`);
    }
  }
}

/** Reads a struct of known layout: `fields[i]` reads field i. */
function readStruct(r: GobReader, fields: ReadonlyArray<() => void>): void {
  let field = -1;
  for (;;) {
    const delta = r.count();
    if (delta === 0) return;
    field += delta;
    const read = fields[field];
    if (read === undefined) throw new GobError(`type definition: unknown field ${field}`);
    read();
  }
}

function decodeWireType(r: GobReader): WireType {
  let result: WireType | undefined;
  let name = '';
  const common = (): void => readStruct(r, [() => (name = r.string()), () => r.int()]);
  const opaque = (): void => {
    readStruct(r, [common]);
    result = { kind: 'opaque', name };
  };
  readStruct(r, [
    () => {
      let elem = 0;
      let len = 0;
      readStruct(r, [common, () => (elem = Number(r.int())), () => (len = Number(r.int()))]);
      result = { kind: 'array', name, elem, len };
    },
    () => {
      let elem = 0;
      readStruct(r, [common, () => (elem = Number(r.int()))]);
      result = { kind: 'slice', name, elem };
    },
    () => {
      const fields: Array<{ name: string; id: number }> = [];
      readStruct(r, [
        common,
        () => {
          const n = r.count();
          for (let i = 0; i < n; i++) {
            const f = { name: '', id: 0 };
            readStruct(r, [() => (f.name = r.string()), () => (f.id = Number(r.int()))]);
            fields.push(f);
          }
        },
      ]);
      result = { kind: 'struct', name, fields };
    },
    () => {
      let key = 0;
      let elem = 0;
      readStruct(r, [common, () => (key = Number(r.int())), () => (elem = Number(r.int()))]);
      result = { kind: 'map', name, key, elem };
    },
    opaque,
    opaque,
    opaque,
  ]);
  if (result === undefined) throw new GobError('empty type definition');
  return result;
}
