/** gob's number and string encodings (encoding/gob encode.go, decode.go). */
import { GobError } from './gob-types';

const MAX_UINT64 = (1n << 64n) - 1n;

/** Appends to a growing byte list; `bytes()` copies once at the end. */
export class GobWriter {
  private readonly parts: number[] = [];

  get length(): number {
    return this.parts.length;
  }

  byte(b: number): void {
    this.parts.push(b & 0xff);
  }

  raw(data: Uint8Array): void {
    for (const b of data) this.parts.push(b);
  }

  /** One byte below 128; else the negated byte count, then the big-endian bytes without leading zeros. */
  uint(value: number | bigint): void {
    const v = BigInt(value);
    if (v < 0n || v > MAX_UINT64) throw new GobError(`uint out of range: ${v}`);
    if (v < 128n) {
      this.parts.push(Number(v));
      return;
    }
    const bytes: number[] = [];
    for (let x = v; x > 0n; x >>= 8n) bytes.unshift(Number(x & 0xffn));
    this.parts.push(256 - bytes.length, ...bytes);
  }

  /** Zig-zag: `i < 0 ? (^i << 1) | 1 : i << 1`, then as uint. */
  int(value: number | bigint): void {
    const v = BigInt(value);
    if (v < -(1n << 63n) || v >= 1n << 63n) throw new GobError(`int out of range: ${v}`);
    this.uint(v < 0n ? ((-v - 1n) << 1n) | 1n : v << 1n);
  }

  /** The IEEE 754 bits with the byte order reversed, as uint (so small exponents make short encodings). */
  float(value: number): void {
    const buf = Buffer.alloc(8);
    buf.writeDoubleBE(value);
    this.uint(buf.reverse().readBigUInt64BE());
  }

  string(value: string): void {
    this.byteString(Buffer.from(value, 'utf8'));
  }

  byteString(value: Uint8Array): void {
    this.uint(value.length);
    this.raw(value);
  }

  bytes(): Buffer {
    return Buffer.from(this.parts);
  }
}

/** Reads one message's bytes. */
export class GobReader {
  private pos = 0;

  constructor(private readonly data: Buffer) {}

  get remaining(): number {
    return this.data.length - this.pos;
  }

  byte(): number {
    const b = this.data[this.pos];
    if (b === undefined) throw new GobError('unexpected end of message');
    this.pos++;
    return b;
  }

  uintBig(): bigint {
    const first = this.byte();
    if (first < 128) return BigInt(first);
    const n = 256 - first;
    if (n > 8) throw new GobError(`uint of ${n} bytes`);
    let v = 0n;
    for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(this.byte());
    return v;
  }

  /** A uint as number when safe, else bigint. */
  uint(): number | bigint {
    return narrow(this.uintBig());
  }

  /** A uint that must fit a length or an id. */
  count(): number {
    const v = this.uintBig();
    if (v > BigInt(this.remaining) + 1_000_000n) throw new GobError(`count ${v} too large`);
    return Number(v);
  }

  intBig(): bigint {
    const u = this.uintBig();
    return (u & 1n) === 1n ? ~(u >> 1n) : u >> 1n;
  }

  int(): number | bigint {
    return narrow(this.intBig());
  }

  float(): number {
    const buf = Buffer.alloc(8);
    buf.writeBigUInt64BE(this.uintBig());
    return buf.reverse().readDoubleBE();
  }

  byteString(): Buffer {
    const n = this.count();
    if (n > this.remaining) throw new GobError(`string of ${n} bytes, only ${this.remaining} left`);
    const out = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return Buffer.from(out);
  }

  string(): string {
    return this.byteString().toString('utf8');
  }
}

function narrow(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
}
