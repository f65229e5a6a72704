import { type ControlMessage, PcapngBlockParser, type PcapngEvent } from '@pcap/capture';

import { CliError, ExitCode } from './cli.errors';

/** What the framer learned from one whole block (or run of packet blocks). */
export type FramedEvent =
  | { readonly kind: 'interface'; readonly id: number; readonly name?: string; readonly description?: string }
  | { readonly kind: 'packets'; readonly count: number }
  | {
      readonly kind: 'statistics';
      readonly interfaceId: number;
      readonly ifDrop: bigint;
      readonly osDrop: bigint;
    }
  | { readonly kind: 'message'; readonly message: ControlMessage };

/**
 * Cuts a capture stream into whole blocks (pcapng) or whole records (classic pcap): `push` returns only complete
 * units, so whatever is written from them is a valid file however the stream ends. Any incomplete tail stays
 * inside the framer and is dropped by {@link pendingBytes} at the end.
 */
export interface BlockFramer {
  /** The whole units completed by `chunk`, in order, and what they say. */
  push(chunk: Buffer): { blocks: Buffer[]; events: FramedEvent[] };
  /** Bytes of an incomplete unit held back. */
  readonly pendingBytes: number;
}

/**
 * Write buffer of the files the CLI writes captures into. With Node's default 16 KiB every chunk of a capture stream
 * filled it, so the download was paused and resumed around each write of Node's thread pool (bench/api measured
 * 20–30% more CPU per packet: docs/cli.md).
 */
export const FILE_BUFFER_BYTES = 1 << 20;

export function framerFor(format: 'pcapng' | 'pcap'): BlockFramer {
  return format === 'pcap' ? new PcapFramer() : new PcapngFramer();
}

class PcapngFramer implements BlockFramer {
  private blocks: Buffer[] = [];
  private events: FramedEvent[] = [];
  private readonly parser = new PcapngBlockParser((e) => this.onEvent(e));

  get pendingBytes(): number {
    return this.parser.bufferedBytes;
  }

  push(chunk: Buffer): { blocks: Buffer[]; events: FramedEvent[] } {
    try {
      this.parser.push(chunk);
    } catch (err) {
      throw new CliError(
        ExitCode.STREAM_BROKEN,
        `the capture stream is not valid pcapng: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const out = { blocks: this.blocks, events: this.events };
    this.blocks = [];
    this.events = [];
    return out;
  }

  private onEvent(e: PcapngEvent): void {
    switch (e.type) {
      case 'section':
        this.blocks.push(e.block);
        return;
      case 'interface':
        this.blocks.push(e.block);
        this.events.push({ kind: 'interface', id: e.interfaceId, name: e.name, description: e.description });
        return;
      case 'packets':
        this.blocks.push(e.data);
        this.events.push({ kind: 'packets', count: e.count });
        return;
      case 'packet':
      case 'simplePacket':
        this.blocks.push(e.block);
        this.events.push({ kind: 'packets', count: 1 });
        return;
      case 'statistics':
        this.blocks.push(e.block);
        this.events.push({
          kind: 'statistics',
          interfaceId: e.interfaceId,
          ifDrop: e.ifDrop ?? 0n,
          osDrop: e.osDrop ?? 0n,
        });
        return;
      case 'message':
        this.blocks.push(e.block);
        this.events.push({ kind: 'message', message: e.message });
        return;
    }
  }
}

const PCAP_HEADER = 24;
const PCAP_RECORD_HEADER = 16;
const MAX_RECORD = 16 * 1024 * 1024;

/** Classic pcap: the 24-byte header, then records of 16 bytes + captured length (byte order from the magic). */
class PcapFramer implements BlockFramer {
  private pending: Buffer = Buffer.alloc(0);
  private littleEndian: boolean | undefined;

  get pendingBytes(): number {
    return this.pending.length;
  }

  push(chunk: Buffer): { blocks: Buffer[]; events: FramedEvent[] } {
    const data = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const blocks: Buffer[] = [];
    let packets = 0;
    let pos = 0;
    if (this.littleEndian === undefined) {
      if (data.length < PCAP_HEADER) {
        this.pending = data;
        return { blocks, events: [] };
      }
      const magic = data.readUInt32LE(0);
      if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) this.littleEndian = true;
      else if (data.readUInt32BE(0) === 0xa1b2c3d4 || data.readUInt32BE(0) === 0xa1b23c4d)
        this.littleEndian = false;
      else throw new CliError(ExitCode.STREAM_BROKEN, 'the capture stream is not classic pcap');
      pos = PCAP_HEADER;
    }
    for (;;) {
      if (data.length - pos < PCAP_RECORD_HEADER) break;
      const caplen = this.littleEndian ? data.readUInt32LE(pos + 8) : data.readUInt32BE(pos + 8);
      if (caplen > MAX_RECORD) throw new CliError(ExitCode.STREAM_BROKEN, `pcap record of ${caplen} bytes`);
      if (data.length - pos < PCAP_RECORD_HEADER + caplen) break;
      pos += PCAP_RECORD_HEADER + caplen;
      packets++;
    }
    if (pos > 0) blocks.push(data.subarray(0, pos));
    this.pending = Buffer.from(data.subarray(pos));
    return { blocks, events: packets > 0 ? [{ kind: 'packets', count: packets }] : [] };
  }
}
