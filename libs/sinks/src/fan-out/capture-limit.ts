import { Transform, type TransformCallback } from 'node:stream';

import { encodeControlMessage, nowNs, PcapngBlockParser, type PcapngEvent } from '@pcap/capture';

export interface CaptureLimitOptions {
  /** Packets over all instances; the first `maxPackets` pass, later ones do not. */
  readonly maxPackets?: number;
  /** Captured bytes over all instances; a packet that would cross it does not pass, nor any after it. */
  readonly maxBytes?: number;
  /** Called once, when the limit is reached (stop the capture here); a LIMIT_REACHED message is already in-band. */
  readonly onLimit: (message: string) => void;
}

/** Counters of one limit stage. */
export interface CaptureLimitStats {
  readonly packetsPassed: number;
  readonly bytesPassed: number;
  /** Packets that arrived after the limit (in flight while the agents stopped) and were dropped. */
  readonly packetsBeyondLimit: number;
}

/**
 * The capture's packet and byte limits, applied once to the merged pcapng before it is fanned out
 * ({@link SinkFanOut}), so every sink (client stream, storage, metrics) sees the same packets, exactly `maxPackets`
 * of them at most. When the limit is reached a LIMIT_REACHED message (origin `api`) follows the last packet and
 * `onLimit` is called; packets arriving afterwards (the agents' in flight while they stop) are dropped and counted,
 * every other block (statistics, messages) still passes, so stored files end with the agents' statistics.
 *
 * Hot path: runs of packets are cut, not copied; without limits chunks pass through untouched (after parsing).
 */
export class CaptureLimit extends Transform {
  private readonly parser: PcapngBlockParser;
  private out: Buffer[] = [];
  private packets = 0;
  private bytes = 0;
  private beyond = 0;
  private limitHit = false;

  constructor(private readonly options: CaptureLimitOptions) {
    super({ highWaterMark: 64 * 1024 });
    this.parser = new PcapngBlockParser((e) => this.accept(e), { packets: 'runs' });
  }

  get stats(): CaptureLimitStats {
    return { packetsPassed: this.packets, bytesPassed: this.bytes, packetsBeyondLimit: this.beyond };
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.parser.push(chunk);
    } catch (err) {
      callback(err as Error);
      return;
    }
    this.flushOut();
    callback();
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.parser.end();
    } catch (err) {
      callback(err as Error);
      return;
    }
    this.flushOut();
    callback();
  }

  private flushOut(): void {
    const out = this.out;
    this.out = [];
    for (const block of out) this.push(block);
  }

  private accept(event: PcapngEvent): void {
    switch (event.type) {
      case 'packets':
        this.run(event.data, event.count);
        return;
      case 'simplePacket':
        if (this.admit(event.data.length)) this.out.push(event.block);
        else this.reached(1);
        return;
      case 'packet':
        if (this.admit(event.capturedLength)) this.out.push(event.block);
        else this.reached(1);
        return;
      case 'section':
      case 'interface':
      case 'statistics':
      case 'message':
        this.out.push(event.block);
        return;
    }
  }

  /** Passes the packets of a run that fit the limits; cuts the run where they end. */
  private run(data: Buffer, count: number): void {
    if (this.options.maxPackets === undefined && this.options.maxBytes === undefined) {
      this.packets += count;
      this.out.push(data);
      return;
    }
    let off = 0;
    let n = 0;
    // Enhanced Packet Blocks: total length at 4, captured length at 20.
    while (n < count && this.admit(data.readUInt32LE(off + 20))) {
      off += data.readUInt32LE(off + 4);
      n++;
    }
    if (n > 0) this.out.push(n === count ? data : data.subarray(0, off));
    if (n < count) this.reached(count - n);
    else if (this.options.maxPackets !== undefined && this.packets >= this.options.maxPackets)
      this.reached(0);
  }

  /** Counts one packet of `captured` bytes if it fits the limits. */
  private admit(captured: number): boolean {
    const { maxPackets, maxBytes } = this.options;
    if (this.limitHit) return false;
    if (maxPackets !== undefined && this.packets >= maxPackets) return false;
    if (maxBytes !== undefined && this.bytes + captured > maxBytes) return false;
    this.packets++;
    this.bytes += captured;
    return true;
  }

  /** `dropped` packets did not fit; the first time, the limit is announced in-band and to `onLimit`. */
  private reached(dropped: number): void {
    this.beyond += dropped;
    if (this.limitHit) return;
    this.limitHit = true;
    const { maxPackets, maxBytes } = this.options;
    const packetLimit = maxPackets !== undefined && this.packets >= maxPackets;
    const text = packetLimit ? `packet limit of ${maxPackets} reached` : `byte limit of ${maxBytes} reached`;
    this.out.push(
      encodeControlMessage({
        type: 'LIMIT_REACHED',
        origin: 'api',
        message: text,
        timestampNs: nowNs(),
        fields: { limit: packetLimit ? 'packets' : 'bytes' },
      }),
    );
    this.options.onLimit(text);
  }
}
