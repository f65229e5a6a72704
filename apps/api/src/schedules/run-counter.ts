import { Transform, type TransformCallback } from 'node:stream';

import { PcapngBlockParser, type PcapngEvent } from '@pcap/capture';

/**
 * Passes a pcapng stream through unchanged while counting what it holds: packets, their captured bytes, and the
 * kernel drops of each interface (the last Interface Statistics Block's `isb_ifdrop`) and the API's own discards
 * (CONGESTED messages). Parse failures are not the
 * stream's problem here: counting stops, the bytes still pass.
 */
export class RunCounter extends Transform {
  packets = 0;
  bytes = 0;
  /** Packets the API discarded while the sink was behind (its CONGESTED messages' counts). */
  discarded = 0;
  private readonly drops = new Map<number, bigint>();
  private readonly parser: PcapngBlockParser;
  private broken = false;

  constructor() {
    super();
    this.parser = new PcapngBlockParser((e) => this.count(e), { packets: 'runs' });
  }

  /** Sum over interfaces of the last reported kernel drops. */
  get kernelDrops(): number {
    let sum = 0n;
    for (const d of this.drops.values()) sum += d;
    return Number(sum);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    if (!this.broken) {
      try {
        this.parser.push(chunk);
      } catch {
        this.broken = true;
      }
    }
    callback(null, chunk);
  }

  private count(e: PcapngEvent): void {
    if (e.type === 'packets') {
      this.packets += e.count;
      let off = 0;
      for (let i = 0; i < e.count; i++) {
        this.bytes += e.data.readUInt32LE(off + 20);
        off += e.data.readUInt32LE(off + 4);
      }
    } else if (e.type === 'statistics' && e.ifDrop !== undefined) {
      this.drops.set(e.interfaceId, e.ifDrop);
    } else if (e.type === 'message' && e.message.type === 'CONGESTED' && e.message.origin === 'api') {
      const n = e.message.fields?.discardedPackets;
      if (typeof n === 'number') this.discarded += n;
    }
  }
}
