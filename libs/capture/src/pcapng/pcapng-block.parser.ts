import { CaptureFormatError } from './capture-format.error';
import { decodeControlMessageOptions } from './control-message.codec';
import type { ControlMessage } from './control-message.model';
import {
  findString,
  findStrings,
  findTimestamp,
  findUint64,
  pad4,
  parseOptions,
  type PcapngOption,
} from './pcapng-options.codec';
import {
  CommonOption,
  DEFAULT_MAX_BLOCK_BYTES,
  EPB_FIXED_LENGTH,
  IdbOption,
  IsbOption,
  MIN_BLOCK_LENGTH,
  NrbRecord,
  PCAPNG_BYTE_ORDER_MAGIC,
  PCAPNG_BYTE_ORDER_MAGIC_SWAPPED,
  PcapngBlockType,
  ShbOption,
  TSRESOL_US,
} from './pcapng.constants';
import { assertTsresol, joinTimestamp, unitsToNs } from './timestamp-resolution.util';

/** An interface of the current section as the reader knows it. */
export interface ReadInterface {
  readonly interfaceId: number;
  readonly linkType: number;
  readonly snaplen: number;
  /** Effective if_tsresol byte (6 = microseconds when the IDB had none, as the spec says). */
  readonly tsresol: number;
}

/** A Section Header Block. Interfaces of earlier sections are forgotten after it. */
export interface PcapngSectionEvent {
  readonly type: 'section';
  readonly majorVersion: number;
  readonly minorVersion: number;
  readonly userAppl?: string;
  readonly hardware?: string;
  readonly os?: string;
  readonly comments: readonly string[];
  readonly block: Buffer;
}

/** An Interface Description Block. `options` holds every option, raw, for re-encoding. */
export interface PcapngInterfaceEvent extends ReadInterface {
  readonly type: 'interface';
  readonly name?: string;
  readonly description?: string;
  /** if_filter text when it is a libpcap filter string. */
  readonly filter?: string;
  readonly os?: string;
  readonly hardware?: string;
  readonly comments: readonly string[];
  readonly options: readonly PcapngOption[];
  readonly block: Buffer;
}

/**
 * Consecutive Enhanced Packet Blocks exactly as they were in the stream (little-endian, interface ids and
 * timestamp units of the stream): the efficient form, usually one event per input chunk. `interfaces` is the
 * section's interface table (index = interface id) for decoding timestamps; see {@link packetsOfRun}.
 */
export interface PcapngPacketsEvent {
  readonly type: 'packets';
  readonly data: Buffer;
  readonly count: number;
  readonly interfaces: readonly ReadInterface[];
}

/** One Enhanced Packet Block, decoded (emitted instead of `packets` when the reader runs in `each` mode). */
export interface PcapngPacketEvent {
  readonly type: 'packet';
  readonly interfaceId: number;
  /** Nanoseconds since the epoch, converted from the interface's if_tsresol. */
  readonly timestampNs: bigint;
  readonly capturedLength: number;
  readonly originalLength: number;
  /** View into the block. */
  readonly data: Buffer;
  readonly comments: readonly string[];
  readonly block: Buffer;
}

/** A Simple Packet Block (interface 0, no timestamp). */
export interface PcapngSimplePacketEvent {
  readonly type: 'simplePacket';
  readonly originalLength: number;
  readonly data: Buffer;
  readonly block: Buffer;
}

/** An Interface Statistics Block; times in ns since the epoch, counters exact (u64). */
export interface PcapngStatisticsEvent {
  readonly type: 'statistics';
  readonly interfaceId: number;
  readonly timestampNs: bigint;
  readonly startTimeNs?: bigint;
  readonly endTimeNs?: bigint;
  readonly ifRecv?: bigint;
  readonly ifDrop?: bigint;
  readonly filterAccept?: bigint;
  readonly osDrop?: bigint;
  readonly usrDeliv?: bigint;
  readonly comments: readonly string[];
  readonly block: Buffer;
}

/** One of our control messages (see control-message.codec.ts). */
export interface PcapngMessageEvent {
  readonly type: 'message';
  readonly message: ControlMessage;
  readonly block: Buffer;
}

export type PcapngEvent =
  | PcapngSectionEvent
  | PcapngInterfaceEvent
  | PcapngPacketsEvent
  | PcapngPacketEvent
  | PcapngSimplePacketEvent
  | PcapngStatisticsEvent
  | PcapngMessageEvent;

export interface PcapngParserOptions {
  /** A block longer than this is an error (bounded memory). Default 16 MiB. */
  readonly maxBlockBytes?: number;
  /** `runs` (default): raw `packets` events; `each`: one decoded `packet` event per EPB. */
  readonly packets?: 'runs' | 'each';
}

/**
 * Incremental, push-driven pcapng parser: feed it chunks split anywhere; it calls `emit` synchronously for every
 * complete block, in stream order. Complete blocks inside one chunk are viewed, not copied; a block split across
 * chunks is assembled once. Memory held between calls is at most one incomplete block (≤ maxBlockBytes).
 *
 * Supports little-endian sections; a big-endian section is rejected with a CaptureFormatError. Unknown blocks
 * and name-resolution blocks that are not our control messages are skipped (counted in `skippedBlocks`).
 * After any error the parser is unusable.
 */
export class PcapngBlockParser {
  /** Bytes fed so far. */
  bytesIn = 0;
  /** Blocks skipped because this reader does not use them. */
  skippedBlocks = 0;

  private readonly maxBlockBytes: number;
  private readonly each: boolean;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Length of the incomplete block in `pending` once its header is known, else -1. */
  private expected = -1;
  private sawSection = false;
  private interfaceTable: ReadInterface[] = [];
  private failed: unknown = undefined;

  constructor(
    private readonly emit: (event: PcapngEvent) => void,
    options: PcapngParserOptions = {},
  ) {
    this.maxBlockBytes = options.maxBlockBytes ?? DEFAULT_MAX_BLOCK_BYTES;
    this.each = options.packets === 'each';
  }

  /** Interfaces of the current section. */
  get interfaces(): readonly ReadInterface[] {
    return this.interfaceTable;
  }

  /** Bytes of an incomplete block currently held. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /** Feeds one chunk. @throws CaptureFormatError on malformed input. */
  push(chunk: Buffer): void {
    if (this.failed !== undefined)
      throw new CaptureFormatError('pcapng parser already failed', { cause: this.failed });
    try {
      this.pushUnchecked(chunk);
    } catch (err) {
      this.failed = err;
      throw err;
    }
  }

  /** Declares the end of the stream. @throws CaptureFormatError when it ends inside a block. */
  end(): void {
    if (this.pendingBytes > 0) {
      const of = this.expected > 0 ? ` of a ${this.expected}-byte block` : '';
      this.failed = new CaptureFormatError(
        `pcapng stream ends inside a block (${this.pendingBytes} bytes${of})`,
      );
      throw this.failed;
    }
  }

  private pushUnchecked(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    let data = chunk;
    if (this.pendingBytes > 0) {
      const total = this.pendingBytes + chunk.length;
      if (this.expected < 0) {
        if (total < MIN_BLOCK_LENGTH) {
          this.keep(chunk);
          return;
        }
        const header = Buffer.concat([...this.pending, chunk], MIN_BLOCK_LENGTH);
        this.expected = this.blockLength(header, 0);
      }
      if (total < this.expected) {
        this.keep(chunk);
        return;
      }
      const need = this.expected - this.pendingBytes;
      const block = Buffer.concat([...this.pending, chunk.subarray(0, need)], this.expected);
      this.pending = [];
      this.pendingBytes = 0;
      this.expected = -1;
      this.checkTrailer(block, 0, block.length);
      if (block.readUInt32LE(0) === PcapngBlockType.ENHANCED_PACKET && !this.each) {
        this.checkEnhancedPacket(block, 0, block.length);
        this.emit({ type: 'packets', data: block, count: 1, interfaces: this.interfaceTable });
      } else {
        this.handleBlock(block);
      }
      data = chunk.subarray(need);
    }
    this.parseContiguous(data);
  }

  private keep(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
  }

  private parseContiguous(data: Buffer): void {
    // DataView reads are single loads once optimised; Buffer#readUInt32LE validates its offset on every call.
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let off = 0;
    let runStart = -1;
    let runCount = 0;
    while (data.length - off >= MIN_BLOCK_LENGTH) {
      // Fast path for the common case, a run of well-formed EPBs: the same checks as blockLength, checkTrailer and
      // checkEnhancedPacket (as len - EPB_FIXED_LENGTH is a multiple of 4, captured ≤ it ⇔ pad4(captured) ≤ it).
      // Anything else, or anything wrong, takes the full path below, which names the problem.
      if (!this.each && this.sawSection && view.getUint32(off, true) === PcapngBlockType.ENHANCED_PACKET) {
        const epbLen = view.getUint32(off + 4, true);
        if (epbLen >= EPB_FIXED_LENGTH && (epbLen & 3) === 0 && epbLen <= this.maxBlockBytes) {
          if (off + epbLen > data.length) {
            this.expected = epbLen;
            break;
          }
          if (
            view.getUint32(off + epbLen - 4, true) === epbLen &&
            view.getUint32(off + 8, true) < this.interfaceTable.length &&
            view.getUint32(off + 20, true) <= epbLen - EPB_FIXED_LENGTH
          ) {
            if (runStart < 0) runStart = off;
            runCount++;
            off += epbLen;
            continue;
          }
        }
      }
      const len = this.blockLength(data, off);
      if (off + len > data.length) {
        this.expected = len;
        break;
      }
      this.checkTrailer(data, off, len);
      if (data.readUInt32LE(off) === PcapngBlockType.ENHANCED_PACKET && !this.each) {
        this.checkEnhancedPacket(data, off, len);
        if (runStart < 0) runStart = off;
        runCount++;
      } else {
        if (runCount > 0) {
          this.emit({
            type: 'packets',
            data: data.subarray(runStart, off),
            count: runCount,
            interfaces: this.interfaceTable,
          });
          runStart = -1;
          runCount = 0;
        }
        this.handleBlock(data.subarray(off, off + len));
      }
      off += len;
    }
    if (runCount > 0) {
      this.emit({
        type: 'packets',
        data: data.subarray(runStart, off),
        count: runCount,
        interfaces: this.interfaceTable,
      });
    }
    this.keep(data.subarray(off));
  }

  /** Validates the header of the block at `off` (12 bytes available) and returns its total length. */
  private blockLength(data: Buffer, off: number): number {
    const type = data.readUInt32LE(off);
    if (type === PcapngBlockType.SECTION_HEADER) {
      const magic = data.readUInt32LE(off + 8);
      if (magic === PCAPNG_BYTE_ORDER_MAGIC_SWAPPED) {
        throw new CaptureFormatError(
          'big-endian pcapng sections are not supported; re-write the file little-endian',
        );
      }
      if (magic !== PCAPNG_BYTE_ORDER_MAGIC) {
        throw new CaptureFormatError(`bad pcapng byte-order magic 0x${magic.toString(16)}`);
      }
    } else if (!this.sawSection) {
      const hint = [0xa1b2c3d4, 0xa1b23c4d, 0xd4c3b2a1, 0x4d3cb2a1].includes(type)
        ? ' (it is classic pcap)'
        : '';
      throw new CaptureFormatError(`stream does not start with a pcapng Section Header Block${hint}`);
    }
    const len = data.readUInt32LE(off + 4);
    if (len < MIN_BLOCK_LENGTH || (len & 3) !== 0) {
      throw new CaptureFormatError(`pcapng block of type 0x${type.toString(16)} has invalid length ${len}`);
    }
    if (len > this.maxBlockBytes) {
      throw new CaptureFormatError(
        `pcapng block of type 0x${type.toString(16)} is ${len} bytes; the maximum is ${this.maxBlockBytes}`,
      );
    }
    return len;
  }

  private checkTrailer(data: Buffer, off: number, len: number): void {
    const trailer = data.readUInt32LE(off + len - 4);
    if (trailer !== len) {
      throw new CaptureFormatError(
        `pcapng block length ${len} does not match its trailing length ${trailer}`,
      );
    }
  }

  private checkEnhancedPacket(data: Buffer, off: number, len: number): void {
    if (len < EPB_FIXED_LENGTH)
      throw new CaptureFormatError(`Enhanced Packet Block too short (${len} bytes)`);
    const interfaceId = data.readUInt32LE(off + 8);
    if (interfaceId >= this.interfaceTable.length) {
      throw new CaptureFormatError(`Enhanced Packet Block names interface ${interfaceId}, which has no IDB`);
    }
    const captured = data.readUInt32LE(off + 20);
    if (pad4(captured) > len - EPB_FIXED_LENGTH) {
      throw new CaptureFormatError(
        `Enhanced Packet Block captured length ${captured} exceeds its block (${len})`,
      );
    }
  }

  private interfaceOf(interfaceId: number, what: string): ReadInterface {
    const iface = this.interfaceTable[interfaceId];
    if (iface === undefined)
      throw new CaptureFormatError(`${what} names interface ${interfaceId}, which has no IDB`);
    return iface;
  }

  private handleBlock(block: Buffer): void {
    const len = block.length;
    switch (block.readUInt32LE(0)) {
      case PcapngBlockType.SECTION_HEADER:
        return this.handleSection(block);
      case PcapngBlockType.INTERFACE_DESCRIPTION:
        return this.handleInterface(block);
      case PcapngBlockType.ENHANCED_PACKET:
        return this.handlePacket(block);
      case PcapngBlockType.SIMPLE_PACKET: {
        if (len < 16) throw new CaptureFormatError(`Simple Packet Block too short (${len} bytes)`);
        const iface = this.interfaceOf(0, 'Simple Packet Block');
        const originalLength = block.readUInt32LE(8);
        let captured = Math.min(originalLength, len - 16);
        if (iface.snaplen > 0) captured = Math.min(captured, iface.snaplen);
        this.emit({ type: 'simplePacket', originalLength, data: block.subarray(12, 12 + captured), block });
        return;
      }
      case PcapngBlockType.NAME_RESOLUTION:
        return this.handleNameResolution(block);
      case PcapngBlockType.INTERFACE_STATISTICS:
        return this.handleStatistics(block);
      default:
        this.skippedBlocks++;
    }
  }

  private handleSection(block: Buffer): void {
    if (block.length < 28)
      throw new CaptureFormatError(`Section Header Block too short (${block.length} bytes)`);
    const majorVersion = block.readUInt16LE(12);
    if (majorVersion !== 1) throw new CaptureFormatError(`unsupported pcapng major version ${majorVersion}`);
    const options = parseOptions(block, 24, block.length - 4);
    this.sawSection = true;
    this.interfaceTable = [];
    const userAppl = findString(options, ShbOption.USER_APPL);
    const hardware = findString(options, ShbOption.HARDWARE);
    const os = findString(options, ShbOption.OS);
    this.emit({
      type: 'section',
      majorVersion,
      minorVersion: block.readUInt16LE(14),
      ...(userAppl === undefined ? {} : { userAppl }),
      ...(hardware === undefined ? {} : { hardware }),
      ...(os === undefined ? {} : { os }),
      comments: findStrings(options, CommonOption.COMMENT),
      block,
    });
  }

  private handleInterface(block: Buffer): void {
    if (block.length < 20)
      throw new CaptureFormatError(`Interface Description Block too short (${block.length} bytes)`);
    const options = parseOptions(block, 16, block.length - 4);
    const tsresolOption = options.find((o) => o.code === IdbOption.TSRESOL);
    let tsresol = TSRESOL_US;
    if (tsresolOption !== undefined) {
      const byte = tsresolOption.value[0];
      if (tsresolOption.value.length !== 1 || byte === undefined) {
        throw new CaptureFormatError(`if_tsresol must be 1 byte, got ${tsresolOption.value.length}`);
      }
      try {
        assertTsresol(byte);
      } catch (err) {
        throw new CaptureFormatError(`unsupported if_tsresol 0x${byte.toString(16)}`, { cause: err });
      }
      tsresol = byte;
    }
    const iface: ReadInterface = {
      interfaceId: this.interfaceTable.length,
      linkType: block.readUInt16LE(8),
      snaplen: block.readUInt32LE(12),
      tsresol,
    };
    this.interfaceTable.push(iface);
    const filterOption = options.find((o) => o.code === IdbOption.FILTER);
    const filter = filterOption?.value[0] === 0 ? filterOption.value.toString('utf8', 1) : undefined;
    const name = findString(options, IdbOption.NAME);
    const description = findString(options, IdbOption.DESCRIPTION);
    const os = findString(options, IdbOption.OS);
    const hardware = findString(options, IdbOption.HARDWARE);
    this.emit({
      type: 'interface',
      ...iface,
      ...(name === undefined ? {} : { name }),
      ...(description === undefined ? {} : { description }),
      ...(filter === undefined ? {} : { filter }),
      ...(os === undefined ? {} : { os }),
      ...(hardware === undefined ? {} : { hardware }),
      comments: findStrings(options, CommonOption.COMMENT),
      options,
      block,
    });
  }

  private handlePacket(block: Buffer): void {
    this.checkEnhancedPacket(block, 0, block.length);
    const interfaceId = block.readUInt32LE(8);
    const iface = this.interfaceOf(interfaceId, 'Enhanced Packet Block');
    const capturedLength = block.readUInt32LE(20);
    const optionsStart = EPB_FIXED_LENGTH - 4 + pad4(capturedLength);
    const comments =
      optionsStart < block.length - 4
        ? findStrings(parseOptions(block, optionsStart, block.length - 4), CommonOption.COMMENT)
        : [];
    this.emit({
      type: 'packet',
      interfaceId,
      timestampNs: unitsToNs(joinTimestamp(block.readUInt32LE(12), block.readUInt32LE(16)), iface.tsresol),
      capturedLength,
      originalLength: block.readUInt32LE(24),
      data: block.subarray(28, 28 + capturedLength),
      comments,
      block,
    });
  }

  private handleNameResolution(block: Buffer): void {
    const end = block.length - 4;
    let off = 8;
    for (;;) {
      if (off + 4 > end) {
        this.skippedBlocks++;
        return;
      }
      const recordType = block.readUInt16LE(off);
      const recordLength = block.readUInt16LE(off + 2);
      off += 4 + pad4(recordLength);
      if (recordType === NrbRecord.END) break;
    }
    const message = off < end ? decodeControlMessageOptions(parseOptions(block, off, end)) : undefined;
    if (message === undefined) {
      this.skippedBlocks++;
      return;
    }
    this.emit({ type: 'message', message, block });
  }

  private handleStatistics(block: Buffer): void {
    if (block.length < 24)
      throw new CaptureFormatError(`Interface Statistics Block too short (${block.length} bytes)`);
    const interfaceId = block.readUInt32LE(8);
    const { tsresol } = this.interfaceOf(interfaceId, 'Interface Statistics Block');
    const options = parseOptions(block, 20, block.length - 4);
    const start = findTimestamp(options, IsbOption.START_TIME);
    const end = findTimestamp(options, IsbOption.END_TIME);
    const counters = {
      ifRecv: findUint64(options, IsbOption.IF_RECV),
      ifDrop: findUint64(options, IsbOption.IF_DROP),
      filterAccept: findUint64(options, IsbOption.FILTER_ACCEPT),
      osDrop: findUint64(options, IsbOption.OS_DROP),
      usrDeliv: findUint64(options, IsbOption.USR_DELIV),
    };
    const present = Object.fromEntries(Object.entries(counters).filter(([, v]) => v !== undefined)) as {
      [K in keyof typeof counters]?: bigint;
    };
    this.emit({
      type: 'statistics',
      interfaceId,
      timestampNs: unitsToNs(joinTimestamp(block.readUInt32LE(12), block.readUInt32LE(16)), tsresol),
      ...(start === undefined ? {} : { startTimeNs: unitsToNs(start, tsresol) }),
      ...(end === undefined ? {} : { endTimeNs: unitsToNs(end, tsresol) }),
      ...present,
      comments: findStrings(options, CommonOption.COMMENT),
      block,
    });
  }
}

/** One EPB of a `packets` run, decoded. */
export interface RunPacket {
  readonly interfaceId: number;
  readonly timestampNs: bigint;
  readonly capturedLength: number;
  readonly originalLength: number;
  /** View into the run's buffer. */
  readonly data: Buffer;
}

/**
 * Decodes the packets of a `packets` event (allocates per packet: for tests, the CLI and other code off the
 * hot path). Timestamps are converted with the interface table carried by the event.
 */
export function* packetsOfRun(event: PcapngPacketsEvent): Generator<RunPacket> {
  const { data, interfaces } = event;
  let off = 0;
  while (off < data.length) {
    const len = data.readUInt32LE(off + 4);
    const interfaceId = data.readUInt32LE(off + 8);
    const iface = interfaces[interfaceId];
    if (iface === undefined) throw new CaptureFormatError(`packet names unknown interface ${interfaceId}`);
    const capturedLength = data.readUInt32LE(off + 20);
    yield {
      interfaceId,
      timestampNs: unitsToNs(
        joinTimestamp(data.readUInt32LE(off + 12), data.readUInt32LE(off + 16)),
        iface.tsresol,
      ),
      capturedLength,
      originalLength: data.readUInt32LE(off + 24),
      data: data.subarray(off + 28, off + 28 + capturedLength),
    };
    off += len;
  }
}
