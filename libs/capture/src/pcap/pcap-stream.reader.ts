import { ChunkParserTransform, parseChunks } from '../stream/chunk-parser.stream';
import { CaptureFormatError } from '../pcapng/capture-format.error';
import { DEFAULT_MAX_BLOCK_BYTES } from '../pcapng/pcapng.constants';
import {
  PCAP_FILE_HEADER_LENGTH,
  PCAP_MAGIC_MICRO,
  PCAP_MAGIC_NANO,
  PCAP_RECORD_HEADER_LENGTH,
  type PcapPrecision,
} from './pcap.writer';

/** The classic pcap file header. */
export interface PcapHeaderEvent {
  readonly type: 'header';
  readonly precision: PcapPrecision;
  readonly littleEndian: boolean;
  readonly versionMajor: number;
  readonly versionMinor: number;
  readonly snaplen: number;
  /** LINKTYPE_* (the low 16 bits of the header's network field). */
  readonly linkType: number;
  /** FCS length in bytes when the header's F bit says packets carry one. */
  readonly fcsLength?: number;
}

/** One record; `data` is a view (into the chunk or the assembled record). */
export interface PcapPacketEvent {
  readonly type: 'packet';
  /** Nanoseconds since the epoch (µs files: a multiple of 1000). */
  readonly timestampNs: bigint;
  readonly capturedLength: number;
  readonly originalLength: number;
  readonly data: Buffer;
}

export type PcapEvent = PcapHeaderEvent | PcapPacketEvent;

export interface PcapParserOptions {
  /** A record longer than this is an error (bounded memory). Default 16 MiB. */
  readonly maxRecordBytes?: number;
}

/**
 * Incremental classic pcap parser: any chunking, both magics (µs 0xa1b2c3d4, ns 0xa1b23c4d) in both byte
 * orders. Calls `emit` synchronously per header/record. Holds at most one incomplete record between calls.
 */
export class PcapRecordParser {
  bytesIn = 0;
  private readonly maxRecordBytes: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private expected = -1;
  private header: PcapHeaderEvent | undefined;
  private failed: unknown = undefined;

  constructor(
    private readonly emit: (event: PcapEvent) => void,
    options: PcapParserOptions = {},
  ) {
    this.maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_BLOCK_BYTES;
  }

  /** Feeds one chunk. @throws CaptureFormatError on malformed input. */
  push(chunk: Buffer): void {
    if (this.failed !== undefined)
      throw new CaptureFormatError('pcap parser already failed', { cause: this.failed });
    try {
      this.pushUnchecked(chunk);
    } catch (err) {
      this.failed = err;
      throw err;
    }
  }

  /** @throws CaptureFormatError when the stream ends inside the header or a record. */
  end(): void {
    if (this.pendingBytes > 0) {
      this.failed = new CaptureFormatError(
        `pcap stream ends inside a record (${this.pendingBytes} bytes left over)`,
      );
      throw this.failed;
    }
  }

  /** Bytes of the next unit (file header or record header) needed to know its total length. */
  private headerBytes(): number {
    return this.header === undefined ? PCAP_FILE_HEADER_LENGTH : PCAP_RECORD_HEADER_LENGTH;
  }

  private pushUnchecked(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    let data = chunk;
    if (this.pendingBytes > 0) {
      const total = this.pendingBytes + chunk.length;
      if (this.expected < 0) {
        const need = this.headerBytes();
        if (total < need) {
          this.keep(chunk);
          return;
        }
        this.expected = this.unitLength(Buffer.concat([...this.pending, chunk], need), 0);
      }
      if (total < this.expected) {
        this.keep(chunk);
        return;
      }
      const take = this.expected - this.pendingBytes;
      const unit = Buffer.concat([...this.pending, chunk.subarray(0, take)], this.expected);
      this.pending = [];
      this.pendingBytes = 0;
      this.expected = -1;
      this.handleUnit(unit, 0, unit.length);
      data = chunk.subarray(take);
    }
    let off = 0;
    while (data.length - off >= this.headerBytes()) {
      const len = this.unitLength(data, off);
      if (off + len > data.length) {
        this.expected = len;
        break;
      }
      this.handleUnit(data, off, len);
      off += len;
    }
    this.keep(data.subarray(off));
  }

  private keep(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
  }

  private unitLength(data: Buffer, off: number): number {
    const header = this.header;
    if (header === undefined) return PCAP_FILE_HEADER_LENGTH;
    const captured = header.littleEndian ? data.readUInt32LE(off + 8) : data.readUInt32BE(off + 8);
    if (captured > this.maxRecordBytes) {
      throw new CaptureFormatError(
        `pcap record of ${captured} bytes exceeds the maximum of ${this.maxRecordBytes}`,
      );
    }
    return PCAP_RECORD_HEADER_LENGTH + captured;
  }

  private handleUnit(data: Buffer, off: number, len: number): void {
    const header = this.header;
    if (header === undefined) {
      this.header = this.parseHeader(data, off);
      this.emit(this.header);
      return;
    }
    const le = header.littleEndian;
    const seconds = le ? data.readUInt32LE(off) : data.readUInt32BE(off);
    const fraction = le ? data.readUInt32LE(off + 4) : data.readUInt32BE(off + 4);
    const capturedLength = len - PCAP_RECORD_HEADER_LENGTH;
    const scale = header.precision === 'nano' ? 1n : 1000n;
    this.emit({
      type: 'packet',
      timestampNs: BigInt(seconds) * 1_000_000_000n + BigInt(fraction) * scale,
      capturedLength,
      originalLength: le ? data.readUInt32LE(off + 12) : data.readUInt32BE(off + 12),
      data: data.subarray(off + PCAP_RECORD_HEADER_LENGTH, off + len),
    });
  }

  private parseHeader(data: Buffer, off: number): PcapHeaderEvent {
    const magicLe = data.readUInt32LE(off);
    const magicBe = data.readUInt32BE(off);
    let littleEndian: boolean;
    let precision: PcapPrecision;
    if (magicLe === PCAP_MAGIC_MICRO || magicLe === PCAP_MAGIC_NANO) {
      littleEndian = true;
      precision = magicLe === PCAP_MAGIC_NANO ? 'nano' : 'micro';
    } else if (magicBe === PCAP_MAGIC_MICRO || magicBe === PCAP_MAGIC_NANO) {
      littleEndian = false;
      precision = magicBe === PCAP_MAGIC_NANO ? 'nano' : 'micro';
    } else {
      const hint = magicLe === 0x0a0d0d0a ? ' (it is pcapng)' : '';
      throw new CaptureFormatError(`not a classic pcap stream: magic 0x${magicLe.toString(16)}${hint}`);
    }
    const u16 = (at: number): number =>
      littleEndian ? data.readUInt16LE(off + at) : data.readUInt16BE(off + at);
    const u32 = (at: number): number =>
      littleEndian ? data.readUInt32LE(off + at) : data.readUInt32BE(off + at);
    const network = u32(20);
    // Bits 28-31 of the network field: F flag (bit 28) and FCS length in 16-bit words (bits 29-31).
    const fcs = (network & 0x10000000) !== 0 ? ((network >>> 29) & 0x7) * 2 : undefined;
    return {
      type: 'header',
      precision,
      littleEndian,
      versionMajor: u16(4),
      versionMinor: u16(6),
      snaplen: u32(16),
      linkType: network & 0xffff,
      ...(fcs === undefined ? {} : { fcsLength: fcs }),
    };
  }
}

/**
 * A Transform from classic pcap bytes to {@link PcapEvent} objects (header first, then one event per record),
 * with the same backpressure and error behaviour as PcapngReader.
 */
export class PcapReader extends ChunkParserTransform<PcapEvent, PcapRecordParser> {
  constructor(options: PcapParserOptions & { readonly readableHighWaterMark?: number } = {}) {
    super((emit) => new PcapRecordParser(emit, options), options.readableHighWaterMark ?? 256);
  }
}

/** Classic pcap events from any async iterable of chunks; see {@link PcapRecordParser}. */
export function readPcap(
  source: AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer | Uint8Array>,
  options: PcapParserOptions = {},
): AsyncGenerator<PcapEvent> {
  return parseChunks<PcapEvent>(source, (emit) => new PcapRecordParser(emit, options));
}
