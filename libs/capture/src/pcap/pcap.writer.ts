import { EPB_BLOCK_TYPE, EPB_OVERHEAD, type PacketBatch } from '../packet-batch';
import type { PacketRecord } from '../pcapng/pcapng-block.encoder';

/** Classic pcap magic for microsecond timestamps. */
export const PCAP_MAGIC_MICRO = 0xa1b2c3d4;
/** Classic pcap magic for nanosecond timestamps. */
export const PCAP_MAGIC_NANO = 0xa1b23c4d;
/** File header and per-record header sizes. */
export const PCAP_FILE_HEADER_LENGTH = 24;
export const PCAP_RECORD_HEADER_LENGTH = 16;

/** `micro` = magic 0xa1b2c3d4 (µs, the most widely read); `nano` = magic 0xa1b23c4d (ns). */
export type PcapPrecision = 'micro' | 'nano';

export interface PcapWriterOptions {
  /** LINKTYPE_* of every packet (classic pcap has exactly one per file). */
  readonly linkType: number;
  /** Written into the header and applied to every record. Default 262144. */
  readonly snaplen?: number;
  /** Default `micro`. */
  readonly precision?: PcapPrecision;
}

const NS_PER_S = 1_000_000_000;

/**
 * Splits a 64-bit nanosecond timestamp given as two 32-bit halves into seconds and the nanosecond remainder
 * without bigint (long division by 10^9 in base-2^16 digits; every intermediate stays below 2^53).
 * Writes into `out[0]` (seconds) and `out[1]` (nanoseconds) so the hot path allocates nothing.
 */
export function splitNanoseconds(high: number, low: number, out: Float64Array): void {
  let r = high >>> 16;
  let cur = r * 65536 + (high & 0xffff);
  const q2 = Math.floor(cur / NS_PER_S);
  r = cur - q2 * NS_PER_S;
  cur = r * 65536 + (low >>> 16);
  const q1 = Math.floor(cur / NS_PER_S);
  r = cur - q1 * NS_PER_S;
  cur = r * 65536 + (low & 0xffff);
  const q0 = Math.floor(cur / NS_PER_S);
  r = cur - q0 * NS_PER_S;
  // The top digit (< 65536) divided by 10^9 is always 0, so it only seeds the remainder.
  out[0] = (q2 * 65536 + q1) * 65536 + q0;
  out[1] = r;
}

/**
 * Stateless-per-call classic pcap writer (little-endian, version 2.4, thiszone 0): produces the file header and
 * records as Buffers; never does I/O. Timestamps come in as nanoseconds and are written as µs (truncated) or
 * ns according to `precision`; captured bytes beyond `snaplen` are cut (the original length is kept).
 * @throws RangeError for times before 1970 or after 2106 (u32 seconds) and malformed batches.
 */
export class PcapWriter {
  readonly linkType: number;
  readonly snaplen: number;
  readonly precision: PcapPrecision;
  private readonly parts = new Float64Array(2);

  constructor(options: PcapWriterOptions) {
    this.linkType = options.linkType;
    this.snaplen = options.snaplen ?? 262144;
    this.precision = options.precision ?? 'micro';
    if (!Number.isInteger(this.linkType) || this.linkType < 0 || this.linkType > 0xffff) {
      throw new RangeError(`link type ${this.linkType} is not a 16-bit number`);
    }
    if (!Number.isInteger(this.snaplen) || this.snaplen <= 0 || this.snaplen > 0xffff_ffff) {
      throw new RangeError(`snaplen ${this.snaplen} must be a positive 32-bit number`);
    }
  }

  /** The 24-byte file header. */
  writeHeader(): Buffer {
    const header = Buffer.alloc(PCAP_FILE_HEADER_LENGTH);
    header.writeUInt32LE(this.precision === 'nano' ? PCAP_MAGIC_NANO : PCAP_MAGIC_MICRO, 0);
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(4, 6);
    header.writeInt32LE(0, 8);
    header.writeUInt32LE(0, 12);
    header.writeUInt32LE(this.snaplen, 16);
    header.writeUInt32LE(this.linkType, 20);
    return header;
  }

  /**
   * All packets of a batch (or of a buffer of back-to-back little-endian nanosecond EPBs) as one Buffer of
   * records, in order. Two walks over the batch, one allocation, no per-packet objects.
   */
  writeBatch(batch: PacketBatch | Buffer): Buffer {
    const src = Buffer.isBuffer(batch) ? batch : batch.data;
    let total = 0;
    for (let off = 0; off < src.length;) {
      const len = this.checkEpb(src, off);
      total += PCAP_RECORD_HEADER_LENGTH + Math.min(src.readUInt32LE(off + 20), this.snaplen);
      off += len;
    }
    const out = Buffer.allocUnsafe(total);
    let pos = 0;
    for (let off = 0; off < src.length;) {
      const len = src.readUInt32LE(off + 4);
      const captured = Math.min(src.readUInt32LE(off + 20), this.snaplen);
      this.writeRecordHeader(
        out,
        pos,
        src.readUInt32LE(off + 12),
        src.readUInt32LE(off + 16),
        captured,
        src.readUInt32LE(off + 24),
      );
      src.copy(out, pos + PCAP_RECORD_HEADER_LENGTH, off + 28, off + 28 + captured);
      pos += PCAP_RECORD_HEADER_LENGTH + captured;
      off += len;
    }
    return out;
  }

  /** One record. */
  writePacket(packet: PacketRecord): Buffer {
    if (packet.capturedLength !== undefined && packet.capturedLength !== packet.data.length) {
      throw new RangeError(
        `capturedLength ${packet.capturedLength} differs from data length ${packet.data.length}`,
      );
    }
    const captured = Math.min(packet.data.length, this.snaplen);
    if (packet.originalLength < captured) {
      throw new RangeError(
        `originalLength ${packet.originalLength} is below the captured length ${captured}`,
      );
    }
    if (packet.timestampNs < 0n || packet.timestampNs > 0xffff_ffff_ffff_ffffn) {
      throw new RangeError(`timestamp ${packet.timestampNs} ns is out of range`);
    }
    const out = Buffer.allocUnsafe(PCAP_RECORD_HEADER_LENGTH + captured);
    const high = Number(packet.timestampNs >> 32n);
    const low = Number(packet.timestampNs & 0xffff_ffffn);
    this.writeRecordHeader(out, 0, high, low, captured, packet.originalLength);
    packet.data.copy(out, PCAP_RECORD_HEADER_LENGTH, 0, captured);
    return out;
  }

  private checkEpb(src: Buffer, off: number): number {
    if (off + EPB_OVERHEAD > src.length) throw new RangeError(`truncated EPB at offset ${off}`);
    const len = src.readUInt32LE(off + 4);
    if (src.readUInt32LE(off) !== EPB_BLOCK_TYPE || len < EPB_OVERHEAD || off + len > src.length) {
      throw new RangeError(`not a well-formed EPB at offset ${off} (length ${len})`);
    }
    if (src.readUInt32LE(off + 20) > len - EPB_OVERHEAD) {
      throw new RangeError(`EPB at offset ${off} has a captured length beyond its block`);
    }
    return len;
  }

  private writeRecordHeader(
    out: Buffer,
    pos: number,
    high: number,
    low: number,
    captured: number,
    original: number,
  ): void {
    splitNanoseconds(high, low, this.parts);
    const seconds = this.parts[0] ?? 0;
    const nanos = this.parts[1] ?? 0;
    if (seconds > 0xffff_ffff) throw new RangeError(`timestamp ${seconds} s does not fit classic pcap`);
    out.writeUInt32LE(seconds, pos);
    out.writeUInt32LE(this.precision === 'nano' ? nanos : Math.floor(nanos / 1000), pos + 4);
    out.writeUInt32LE(captured, pos + 8);
    out.writeUInt32LE(original, pos + 12);
  }
}
