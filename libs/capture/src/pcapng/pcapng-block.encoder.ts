import type { PacketView } from '../packet-batch';
import {
  optionsLength,
  pad4,
  stringOption,
  timestampOption,
  uint64Option,
  writeOptions,
  type PcapngOption,
} from './pcapng-options.codec';
import {
  CommonOption,
  EPB_FIXED_LENGTH,
  IdbOption,
  IsbOption,
  PCAPNG_BYTE_ORDER_MAGIC,
  PcapngBlockType,
  ShbOption,
  TSRESOL_NS,
} from './pcapng.constants';
import { assertTsresol, nsToUnits } from './timestamp-resolution.util';

/**
 * Stateless encoders for little-endian pcapng blocks. Each returns one freshly allocated Buffer holding exactly
 * one complete block (header, body, options padded to 32 bits and terminated by opt_endofopt, trailing length).
 * Interface ids and timestamp resolutions are the caller's business; see PcapngWriter for the stateful face.
 */

/** Options of a Section Header Block. */
export interface SectionHeaderOptions {
  /** shb_userappl: the application that wrote the section. */
  readonly userAppl?: string;
  /** shb_hardware */
  readonly hardware?: string;
  /** shb_os */
  readonly os?: string;
  readonly comments?: readonly string[];
}

/** What an Interface Description Block says about one capture interface. */
export interface InterfaceDescription {
  /** LINKTYPE_* number (1 = Ethernet). */
  readonly linkType: number;
  /** Maximum captured bytes per packet; 0 = no limit. */
  readonly snaplen: number;
  /** if_name */
  readonly name?: string;
  /** if_description */
  readonly description?: string;
  /** Raw if_tsresol byte; the encoder writes 9 (nanoseconds) when absent. */
  readonly tsresol?: number;
  /** if_filter as a libpcap filter string. */
  readonly filter?: string;
  /** if_os */
  readonly os?: string;
  /** if_hardware */
  readonly hardware?: string;
  readonly comments?: readonly string[];
  /** Further options copied verbatim (e.g. from a block being re-encoded); must not repeat the typed ones. */
  readonly extraOptions?: readonly PcapngOption[];
}

/** A packet to encode: PacketView fits; `capturedLength`, when given, must equal `data.length`. */
export type PacketRecord = Pick<PacketView, 'timestampNs' | 'originalLength' | 'data'> & {
  readonly capturedLength?: number;
};

/** Counters and times for an Interface Statistics Block; counters are exact up to 2^64-1. */
export interface InterfaceStatistics {
  /** Timestamp of the block itself, ns since the epoch. */
  readonly timestampNs: bigint;
  /** isb_starttime, ns since the epoch. */
  readonly startTimeNs?: bigint;
  /** isb_endtime, ns since the epoch. */
  readonly endTimeNs?: bigint;
  /** isb_ifrecv: packets the interface/kernel received. */
  readonly ifRecv?: number | bigint;
  /** isb_ifdrop: packets the interface/kernel dropped. */
  readonly ifDrop?: number | bigint;
  /** isb_filteraccept: packets accepted by the filter. */
  readonly filterAccept?: number | bigint;
  /** isb_osdrop: packets dropped by the OS — here: discarded by our own bounded queues. */
  readonly osDrop?: number | bigint;
  /** isb_usrdeliv: packets delivered to the user. */
  readonly usrDeliv?: number | bigint;
  readonly comments?: readonly string[];
}

const SHB_FIXED_LENGTH = 28;
const IDB_FIXED_LENGTH = 20;
const ISB_FIXED_LENGTH = 24;

function allocBlock(type: number, totalLength: number): Buffer {
  const block = Buffer.allocUnsafe(totalLength);
  block.writeUInt32LE(type, 0);
  block.writeUInt32LE(totalLength, 4);
  block.writeUInt32LE(totalLength, totalLength - 4);
  return block;
}

function commentOptions(comments: readonly string[] | undefined): PcapngOption[] {
  return (comments ?? []).map((c) => stringOption(CommonOption.COMMENT, c));
}

/** Encodes a Section Header Block (version 1.0, section length unknown = -1). */
export function encodeSectionHeader(options: SectionHeaderOptions = {}): Buffer {
  const opts: PcapngOption[] = commentOptions(options.comments);
  if (options.hardware !== undefined) opts.push(stringOption(ShbOption.HARDWARE, options.hardware));
  if (options.os !== undefined) opts.push(stringOption(ShbOption.OS, options.os));
  if (options.userAppl !== undefined) opts.push(stringOption(ShbOption.USER_APPL, options.userAppl));
  const block = allocBlock(PcapngBlockType.SECTION_HEADER, SHB_FIXED_LENGTH + optionsLength(opts));
  block.writeUInt32LE(PCAPNG_BYTE_ORDER_MAGIC, 8);
  block.writeUInt16LE(1, 12);
  block.writeUInt16LE(0, 14);
  block.writeBigInt64LE(-1n, 16);
  writeOptions(block, 24, opts);
  return block;
}

/** Encodes an Interface Description Block; if_tsresol is always written (default 9 = nanoseconds). */
export function encodeInterfaceDescription(desc: InterfaceDescription): Buffer {
  const tsresol = desc.tsresol ?? TSRESOL_NS;
  assertTsresol(tsresol);
  if (!Number.isInteger(desc.linkType) || desc.linkType < 0 || desc.linkType > 0xffff) {
    throw new RangeError(`link type ${desc.linkType} is not a 16-bit number`);
  }
  if (!Number.isInteger(desc.snaplen) || desc.snaplen < 0 || desc.snaplen > 0xffff_ffff) {
    throw new RangeError(`snaplen ${desc.snaplen} is not a 32-bit number`);
  }
  const opts: PcapngOption[] = commentOptions(desc.comments);
  if (desc.name !== undefined) opts.push(stringOption(IdbOption.NAME, desc.name));
  if (desc.description !== undefined) opts.push(stringOption(IdbOption.DESCRIPTION, desc.description));
  opts.push({ code: IdbOption.TSRESOL, value: Buffer.from([tsresol]) });
  if (desc.filter !== undefined) {
    // if_filter: first byte 0 = "libpcap filter string", then the text.
    opts.push({
      code: IdbOption.FILTER,
      value: Buffer.concat([Buffer.from([0]), Buffer.from(desc.filter, 'utf8')]),
    });
  }
  if (desc.os !== undefined) opts.push(stringOption(IdbOption.OS, desc.os));
  if (desc.hardware !== undefined) opts.push(stringOption(IdbOption.HARDWARE, desc.hardware));
  opts.push(...(desc.extraOptions ?? []));
  const block = allocBlock(PcapngBlockType.INTERFACE_DESCRIPTION, IDB_FIXED_LENGTH + optionsLength(opts));
  block.writeUInt16LE(desc.linkType, 8);
  block.writeUInt16LE(0, 10);
  block.writeUInt32LE(desc.snaplen, 12);
  writeOptions(block, 16, opts);
  return block;
}

/**
 * Encodes one Enhanced Packet Block. The packet's nanosecond timestamp is converted to `tsresol` units (the
 * interface's if_tsresol; default nanoseconds). `snaplen` (0 = none) truncates the captured bytes.
 */
export function encodeEnhancedPacket(
  interfaceId: number,
  packet: PacketRecord,
  tsresol: number = TSRESOL_NS,
  snaplen = 0,
  comments?: readonly string[],
): Buffer {
  if (packet.capturedLength !== undefined && packet.capturedLength !== packet.data.length) {
    throw new RangeError(
      `capturedLength ${packet.capturedLength} differs from data length ${packet.data.length}`,
    );
  }
  const data = snaplen > 0 && packet.data.length > snaplen ? packet.data.subarray(0, snaplen) : packet.data;
  if (packet.originalLength < data.length) {
    throw new RangeError(
      `originalLength ${packet.originalLength} is below the captured length ${data.length}`,
    );
  }
  const opts = commentOptions(comments);
  const block = allocBlock(
    PcapngBlockType.ENHANCED_PACKET,
    EPB_FIXED_LENGTH + pad4(data.length) + optionsLength(opts),
  );
  const units = nsToUnits(packet.timestampNs, tsresol);
  block.writeUInt32LE(interfaceId, 8);
  block.writeUInt32LE(Number(units >> 32n), 12);
  block.writeUInt32LE(Number(units & 0xffff_ffffn), 16);
  block.writeUInt32LE(data.length, 20);
  block.writeUInt32LE(packet.originalLength, 24);
  data.copy(block, 28);
  const padEnd = 28 + pad4(data.length);
  block.fill(0, 28 + data.length, padEnd);
  writeOptions(block, padEnd, opts);
  return block;
}

/** Encodes an Interface Statistics Block; times are converted to `tsresol` units of the interface. */
export function encodeInterfaceStatistics(
  interfaceId: number,
  stats: InterfaceStatistics,
  tsresol: number = TSRESOL_NS,
): Buffer {
  const opts: PcapngOption[] = commentOptions(stats.comments);
  if (stats.startTimeNs !== undefined) {
    opts.push(timestampOption(IsbOption.START_TIME, nsToUnits(stats.startTimeNs, tsresol)));
  }
  if (stats.endTimeNs !== undefined) {
    opts.push(timestampOption(IsbOption.END_TIME, nsToUnits(stats.endTimeNs, tsresol)));
  }
  const counters: Array<[number, number | bigint | undefined]> = [
    [IsbOption.IF_RECV, stats.ifRecv],
    [IsbOption.IF_DROP, stats.ifDrop],
    [IsbOption.FILTER_ACCEPT, stats.filterAccept],
    [IsbOption.OS_DROP, stats.osDrop],
    [IsbOption.USR_DELIV, stats.usrDeliv],
  ];
  for (const [code, value] of counters) if (value !== undefined) opts.push(uint64Option(code, value));
  const block = allocBlock(PcapngBlockType.INTERFACE_STATISTICS, ISB_FIXED_LENGTH + optionsLength(opts));
  const units = nsToUnits(stats.timestampNs, tsresol);
  block.writeUInt32LE(interfaceId, 8);
  block.writeUInt32LE(Number(units >> 32n), 12);
  block.writeUInt32LE(Number(units & 0xffff_ffffn), 16);
  writeOptions(block, 20, opts);
  return block;
}

/**
 * Encodes a Name Resolution Block that holds no name records (only nrb_record_end) and carries `options`:
 * the container our control messages travel in (see control-message.codec.ts and docs/pcapng-stream.md).
 */
export function encodeEmptyNameResolution(options: readonly PcapngOption[]): Buffer {
  const block = allocBlock(PcapngBlockType.NAME_RESOLUTION, 16 + optionsLength(options));
  block.writeUInt32LE(0, 8); // nrb_record_end: type 0, length 0
  writeOptions(block, 12, options);
  return block;
}

/** Encodes a pcapng Custom Block (type 0xBAD, or 0x40000BAD when `copy` is false). */
export function encodeCustomBlock(pen: number, payload: Buffer, copy = true): Buffer {
  const type = copy ? PcapngBlockType.CUSTOM : PcapngBlockType.CUSTOM_NO_COPY;
  const block = allocBlock(type, 16 + pad4(payload.length));
  block.writeUInt32LE(pen, 8);
  payload.copy(block, 12);
  block.fill(0, 12 + payload.length, 12 + pad4(payload.length));
  return block;
}
