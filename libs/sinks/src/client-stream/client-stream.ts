import { pipeline, Readable } from 'node:stream';

import {
  BoundedPacketQueue,
  type ControlMessage,
  encodeControlMessage,
  LINKTYPE_ETHERNET,
  nowNs,
  PcapngReader,
  type PcapngEvent,
  PcapWriter,
} from '@pcap/capture';

export type CaptureFormat = 'pcapng' | 'pcap';

export interface ClientStreamOptions {
  readonly format: CaptureFormat;
  /** Bytes waiting for the client above which packets are discarded; below `lowWatermark` that stops. */
  readonly highWatermark: number;
  readonly lowWatermark: number;
  /** Totals over all instances; reaching one calls `onLimit` once, and later packets are not written. */
  readonly maxPackets?: number;
  readonly maxBytes?: number;
  /** Snaplen of the classic pcap header. */
  readonly snaplen: number;
  /** Messages to write right after the section header (instances that could not start). */
  readonly notices: readonly ControlMessage[];
  readonly onLimit: (message: string) => void;
  /** Every control message that passes (for logs and the audit event), also in pcap format where it is dropped. */
  readonly onMessage: (message: ControlMessage) => void;
}

/** Counters of one client stream. Invariant: offered = written + discarded (+ beyondLimit, not offered). */
export interface ClientStreamStats {
  readonly packetsWritten: number;
  readonly bytesWritten: number;
  readonly packetsDiscarded: number;
  readonly packetsBeyondLimit: number;
  readonly congestionEpisodes: number;
}

interface Item {
  readonly data: Buffer;
  readonly packets: number;
}

/**
 * The lossy, bounded stage between the merge and one client (DESIGN.md: the live client stream). The merged
 * pcapng is read as fast as it comes; packet runs wait in a {@link BoundedPacketQueue} until the client reads.
 * Above the high watermark whole runs are discarded and counted, with a CONGESTED message when an episode starts and
 * one with the count when it ends; blocks other than packets are never discarded. Memory: at most the high
 * watermark (or one run) plus small control blocks.
 *
 * Output: the pcapng as merged (with API messages in-band), or classic pcap (link type Ethernet; messages and
 * statistics cannot travel in pcap and are only reported through `onMessage`). Destroying this stream destroys
 * the merge and so every agent's capture.
 */
export class ClientStream extends Readable {
  private readonly queue: BoundedPacketQueue<Item>;
  private readonly reader: PcapngReader;
  private readonly pcap: PcapWriter | undefined;
  private wantData = false;
  private draining = false;
  private sourceEnded = false;
  private limitHit = false;
  private noticesWritten = false;
  private eof = false;
  private offeredPackets = 0;
  private bytesCounted = 0;
  private beyondLimit = 0;

  constructor(
    private readonly source: Readable,
    private readonly options: ClientStreamOptions,
  ) {
    super({ highWaterMark: 64 * 1024 });
    this.pcap =
      options.format === 'pcap'
        ? new PcapWriter({ linkType: LINKTYPE_ETHERNET, snaplen: options.snaplen, precision: 'micro' })
        : undefined;
    this.queue = new BoundedPacketQueue<Item>({
      high: { bytes: options.highWatermark },
      low: { bytes: options.lowWatermark },
      sizeOf: (item) => ({ packets: item.packets, bytes: item.data.length }),
      onReadable: () => this.drain(),
      onCongestionStart: (info) =>
        this.control({
          type: 'CONGESTED',
          origin: 'api',
          message: `the client reads too slowly: discarding packets (${info.queuedBytes} bytes waiting)`,
          timestampNs: nowNs(),
          fields: { queuedBytes: info.queuedBytes },
        }),
      onCongestionEnd: (info) =>
        this.control({
          type: 'CONGESTED',
          origin: 'api',
          message: `congestion over after ${info.durationMs} ms: ${info.discardedPackets} packets discarded`,
          timestampNs: nowNs(),
          fields: { discardedPackets: info.discardedPackets, discardedBytes: info.discardedBytes },
        }),
    });
    this.reader = new PcapngReader({ packets: 'runs' });
    this.reader.on('data', (event: PcapngEvent) => this.accept(event));
    pipeline(source, this.reader, (err) => {
      if (err && !this.destroyed) {
        this.control({
          type: 'CONNECTION_ERROR',
          origin: 'api',
          message: `the merged stream failed: ${err.message}`,
          timestampNs: nowNs(),
        });
      }
      this.sourceEnded = true;
      this.drain();
    });
  }

  get stats(): ClientStreamStats {
    const c = this.queue.counters;
    return {
      packetsWritten: c.dequeuedPackets,
      bytesWritten: c.dequeuedBytes,
      packetsDiscarded: c.discardedPackets,
      packetsBeyondLimit: this.beyondLimit,
      congestionEpisodes: c.congestionEpisodes,
    };
  }

  /** Adds an API message to the stream (never discarded). */
  message(message: ControlMessage): void {
    this.control(message);
  }

  override _read(): void {
    this.wantData = true;
    this.drain();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.source.destroy();
    this.reader.destroy();
    callback(error);
  }

  private accept(event: PcapngEvent): void {
    switch (event.type) {
      case 'section':
        if (this.pcap) this.raw(this.pcap.writeHeader());
        else this.raw(event.block);
        if (!this.noticesWritten) {
          this.noticesWritten = true;
          for (const notice of this.options.notices) this.control(notice);
        }
        return;
      case 'interface':
        if (!this.pcap) this.raw(event.block);
        return;
      case 'packets':
        this.packets(event.data, event.count);
        return;
      case 'statistics':
        if (!this.pcap) this.raw(event.block);
        return;
      case 'message':
        this.options.onMessage(event.message);
        if (!this.pcap) this.raw(event.block);
        return;
      case 'packet':
      case 'simplePacket':
        return;
    }
  }

  private packets(data: Buffer, count: number): void {
    if (this.limitHit) {
      this.beyondLimit += count;
      return;
    }
    const { maxPackets, maxBytes } = this.options;
    let cut = data;
    let n = count;
    if (maxPackets !== undefined || maxBytes !== undefined) {
      let off = 0;
      n = 0;
      while (n < count) {
        const captured = data.readUInt32LE(off + 20);
        if (maxPackets !== undefined && this.offeredPackets >= maxPackets) break;
        if (maxBytes !== undefined && this.bytesCounted + captured > maxBytes) break;
        this.offeredPackets++;
        this.bytesCounted += captured;
        off += data.readUInt32LE(off + 4);
        n++;
      }
      cut = n === count ? data : data.subarray(0, off);
      const packetLimit = maxPackets !== undefined && this.offeredPackets >= maxPackets;
      if (n < count || packetLimit) {
        this.limitHit = true;
        this.beyondLimit += count - n;
      }
    }
    if (n > 0) this.queue.offer({ data: this.pcap ? this.pcap.writeBatch(cut) : cut, packets: n });
    if (this.limitHit) {
      const text =
        maxPackets !== undefined && this.offeredPackets >= maxPackets
          ? `packet limit of ${maxPackets} reached`
          : `byte limit of ${maxBytes} reached`;
      this.control({ type: 'LIMIT_REACHED', origin: 'api', message: text, timestampNs: nowNs() });
      this.options.onLimit(text);
    }
  }

  private control(message: ControlMessage): void {
    if (message.origin === 'api') this.options.onMessage(message);
    if (!this.pcap) this.raw(encodeControlMessage(message));
  }

  private raw(block: Buffer): void {
    // A message after the end (a storage sink failing on its last upload) only goes to onMessage.
    if (this.eof || this.destroyed) return;
    this.queue.offerControl({ data: block, packets: 0 });
    this.drain();
  }

  private drain(): void {
    // shift() can end a congestion episode, whose message is queued and drained from inside shift(): a nested
    // drain would push later items before the one the outer loop holds (packets out of order). The outer loop
    // delivers them anyway.
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.wantData) {
        const item = this.queue.shift();
        if (item === undefined) break;
        if (!this.push(item.data)) this.wantData = false;
      }
    } finally {
      this.draining = false;
    }
    if (this.sourceEnded && this.queue.length === 0 && !this.eof && !this.destroyed) {
      this.eof = true;
      this.push(null);
    }
  }
}
