import { pipeline, Readable } from 'node:stream';

import {
  BoundedPacketQueue,
  type ControlMessage,
  encodeControlMessage,
  encodeInterfaceStatistics,
  EPB_OVERHEAD,
  LINKTYPE_ETHERNET,
  nowNs,
  PcapngReader,
  type PcapngEvent,
  type PcapngStatisticsEvent,
  PcapWriter,
} from '@pcap/capture';

export type CaptureFormat = 'pcapng' | 'pcap';

export interface ClientStreamOptions {
  readonly format: CaptureFormat;
  /** Bytes waiting for the client above which packets are discarded; below `lowWatermark` that stops. */
  readonly highWatermark: number;
  readonly lowWatermark: number;
  /** Snaplen of the classic pcap header. */
  readonly snaplen: number;
  /** Messages to write right after the section header (instances that could not start). */
  readonly notices: readonly ControlMessage[];
  /** Every control message that passes (for logs and the audit event), also in pcap format where it is dropped. */
  readonly onMessage: (message: ControlMessage) => void;
}

/**
 * Counters of one client stream. Invariant: offered = written + discarded. (The capture's packet and byte limits
 * are applied before the fan-out, by CaptureLimit, so every sink sees the same packets.)
 */
export interface ClientStreamStats {
  readonly packetsWritten: number;
  readonly bytesWritten: number;
  readonly packetsDiscarded: number;
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
  private noticesWritten = false;
  private eof = false;
  /** Packets this stage discarded, per interface id: added to that interface's isb_osdrop. */
  private readonly discardedBy = new Map<number, number>();
  private readonly tsresolOf = new Map<number, number>();

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
        this.tsresolOf.set(event.interfaceId, event.tsresol);
        if (!this.pcap) this.raw(event.block);
        return;
      case 'packets':
        this.packets(event.data, event.count);
        return;
      case 'statistics':
        if (!this.pcap) this.raw(this.withOurDiscards(event));
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
    const accepted = this.queue.offer({
      data: this.pcap ? this.pcap.writeBatch(data) : data,
      packets: count,
    });
    if (!accepted && !this.pcap) this.countDiscarded(data);
  }

  /** Off the hot path: only for runs the queue refused. */
  private countDiscarded(run: Buffer): void {
    for (let off = 0; off + EPB_OVERHEAD <= run.length; off += run.readUInt32LE(off + 4)) {
      const id = run.readUInt32LE(off + 8);
      this.discardedBy.set(id, (this.discardedBy.get(id) ?? 0) + 1);
      if (run.readUInt32LE(off + 4) < EPB_OVERHEAD) break;
    }
  }

  /**
   * The agent's ISB counts what the agent and the kernel lost; packets this stage discarded for a slow client are
   * added to isb_osdrop (and taken from isb_usrdeliv), so the file's statistics account for every packet.
   */
  private withOurDiscards(event: PcapngStatisticsEvent): Buffer {
    const ours = this.discardedBy.get(event.interfaceId) ?? 0;
    if (ours === 0) return event.block;
    const n = BigInt(ours);
    const usrDeliv = event.usrDeliv === undefined ? undefined : event.usrDeliv > n ? event.usrDeliv - n : 0n;
    return encodeInterfaceStatistics(
      event.interfaceId,
      {
        timestampNs: event.timestampNs,
        ...(event.startTimeNs === undefined ? {} : { startTimeNs: event.startTimeNs }),
        ...(event.endTimeNs === undefined ? {} : { endTimeNs: event.endTimeNs }),
        ...(event.ifRecv === undefined ? {} : { ifRecv: event.ifRecv }),
        ...(event.ifDrop === undefined ? {} : { ifDrop: event.ifDrop }),
        ...(event.filterAccept === undefined ? {} : { filterAccept: event.filterAccept }),
        osDrop: (event.osDrop ?? 0n) + n,
        ...(usrDeliv === undefined ? {} : { usrDeliv }),
        comments: [...event.comments, `pcap-api discarded ${ours} packets for a slow client`],
      },
      this.tsresolOf.get(event.interfaceId),
    );
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
