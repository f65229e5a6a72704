import { EPB_BLOCK_TYPE, type PacketBatch } from '../packet-batch';
import { encodeControlMessage } from './control-message.codec';
import type { ControlMessage } from './control-message.model';
import {
  encodeEnhancedPacket,
  encodeInterfaceDescription,
  encodeInterfaceStatistics,
  encodeSectionHeader,
  type InterfaceDescription,
  type InterfaceStatistics,
  type PacketRecord,
  type SectionHeaderOptions,
} from './pcapng-block.encoder';
import { EPB_FIXED_LENGTH, TSRESOL_NS } from './pcapng.constants';

/** An interface as the writer registered it. */
export interface WrittenInterface {
  readonly interfaceId: number;
  readonly linkType: number;
  readonly snaplen: number;
  /** Effective if_tsresol byte. */
  readonly tsresol: number;
}

/**
 * Stateful little-endian pcapng writer for one output stream. It produces Buffers (one complete block each, or
 * a whole batch) and never does I/O: the caller writes them, in call order, to the destination.
 *
 * Contract: call {@link writeSectionHeader} first; interface ids are assigned 0, 1, 2, ... per section in
 * registration order; every packet/statistics call names a registered interface or throws a RangeError.
 * Not shared between streams.
 */
export class PcapngWriter {
  private interfaces: WrittenInterface[] = [];
  private started = false;

  constructor(private readonly section: SectionHeaderOptions = {}) {}

  /** Interfaces of the current section, indexed by id. */
  get registeredInterfaces(): readonly WrittenInterface[] {
    return this.interfaces;
  }

  /** The Section Header Block. Starts a new section: previously registered interfaces are forgotten. */
  writeSectionHeader(): Buffer {
    this.started = true;
    this.interfaces = [];
    return encodeSectionHeader(this.section);
  }

  /** Registers an interface (if_tsresol defaults to nanoseconds) and returns its id and IDB. */
  writeInterface(desc: InterfaceDescription): { interfaceId: number; block: Buffer } {
    this.requireSection();
    const block = encodeInterfaceDescription(desc);
    const interfaceId = this.interfaces.length;
    this.interfaces.push({
      interfaceId,
      linkType: desc.linkType,
      snaplen: desc.snaplen,
      tsresol: desc.tsresol ?? TSRESOL_NS,
    });
    return { interfaceId, block };
  }

  /** One EPB; the ns timestamp is converted to the interface's resolution and data truncated to its snaplen. */
  writePacket(interfaceId: number, packet: PacketRecord, comments?: readonly string[]): Buffer {
    const iface = this.interfaceOf(interfaceId);
    return encodeEnhancedPacket(interfaceId, packet, iface.tsresol, iface.snaplen, comments);
  }

  /**
   * Hot path: stamps `interfaceId` into every EPB of the batch, in place, and returns `batch.data` itself (no
   * copy, one chunk). The batch must not be used for anything else afterwards; the interface must have
   * nanosecond resolution (batches are nanoseconds). Snaplen is the engine's job here.
   * @throws RangeError when the interface is unknown or not nanosecond, or the batch is malformed.
   */
  writeBatch(interfaceId: number, batch: PacketBatch): Buffer {
    const iface = this.interfaceOf(interfaceId);
    if (iface.tsresol !== TSRESOL_NS) {
      throw new RangeError(
        `interface ${interfaceId} has if_tsresol ${iface.tsresol}; batches need nanoseconds`,
      );
    }
    stampInterfaceId(batch.data, interfaceId, batch.count);
    return batch.data;
  }

  /** One ISB for a registered interface; times are converted to its resolution. */
  writeStatistics(interfaceId: number, stats: InterfaceStatistics): Buffer {
    const iface = this.interfaceOf(interfaceId);
    return encodeInterfaceStatistics(interfaceId, stats, iface.tsresol);
  }

  /** One control message block (see control-message.codec.ts). Needs no interface. */
  writeMessage(message: ControlMessage): Buffer {
    this.requireSection();
    return encodeControlMessage(message);
  }

  private requireSection(): void {
    if (!this.started) throw new RangeError('writeSectionHeader() must come first');
  }

  private interfaceOf(interfaceId: number): WrittenInterface {
    this.requireSection();
    const iface = this.interfaces[interfaceId];
    if (iface === undefined) throw new RangeError(`interface ${interfaceId} is not registered`);
    return iface;
  }
}

/**
 * Writes `interfaceId` into each little-endian EPB of `data` in place. When `expectedCount` is given the walk
 * also checks it. The walk touches 4 bytes per packet and allocates nothing.
 * @throws RangeError on a non-EPB block, a bad length or a count mismatch.
 */
export function stampInterfaceId(data: Buffer, interfaceId: number, expectedCount?: number): void {
  let off = 0;
  let count = 0;
  const end = data.length;
  while (off < end) {
    if (off + EPB_FIXED_LENGTH > end) throw new RangeError(`truncated EPB at offset ${off}`);
    const len = data.readUInt32LE(off + 4);
    if (
      data.readUInt32LE(off) !== EPB_BLOCK_TYPE ||
      len < EPB_FIXED_LENGTH ||
      (len & 3) !== 0 ||
      off + len > end
    ) {
      throw new RangeError(`not a well-formed EPB at offset ${off} (length ${len})`);
    }
    data.writeUInt32LE(interfaceId, off + 8);
    off += len;
    count++;
  }
  if (expectedCount !== undefined && count !== expectedCount) {
    throw new RangeError(`batch claims ${expectedCount} packets but holds ${count}`);
  }
}
