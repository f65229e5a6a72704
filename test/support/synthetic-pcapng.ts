/**
 * A synthetic capture as the API's merge would produce it: one Section Header Block, `interfaces` Interface
 * Description Blocks (Ethernet), `packets` Enhanced Packet Blocks of valid Ethernet/IPv4/UDP frames spread round-robin
 * over the interfaces, then one Interface Statistics Block per interface. Packet `i` carries `i` in its UDP payload
 * (first 4 bytes, big endian) and in its destination port (10000 + i % 50000), so order and completeness can be
 * checked with tshark. Produced lazily in chunks of about `chunkBytes`, so gigabytes cost no memory.
 */
import { Readable } from 'node:stream';

import {
  encodeEnhancedPacket,
  encodeInterfaceDescription,
  encodeInterfaceStatistics,
  encodeSectionHeader,
  LINKTYPE_ETHERNET,
} from '@pcap/capture';

export interface SyntheticCapture {
  readonly packets: number;
  /** Payload bytes per packet after the 4-byte sequence number (frame = 42 + 4 + payload). */
  readonly payloadBytes?: number;
  readonly interfaces?: number;
  /** Kernel drops reported per interface in the final statistics. */
  readonly kernelDropsPerInterface?: number;
  readonly chunkBytes?: number;
  readonly startNs?: bigint;
}

export function udpFrame(seq: number, payloadBytes: number): Buffer {
  const udpLength = 8 + 4 + payloadBytes;
  const ipLength = 20 + udpLength;
  const frame = Buffer.alloc(14 + ipLength);
  frame.set([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01], 0);
  frame.writeUInt16BE(0x0800, 12);
  const ip = 14;
  frame[ip] = 0x45;
  frame.writeUInt16BE(ipLength, ip + 2);
  frame.writeUInt16BE(seq & 0xffff, ip + 4);
  frame[ip + 8] = 64;
  frame[ip + 9] = 17;
  frame.set([10, 0, 0, 1], ip + 12);
  frame.set([10, 0, 0, 2], ip + 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += frame.readUInt16BE(ip + i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  frame.writeUInt16BE(~sum & 0xffff, ip + 10);
  const udp = ip + 20;
  frame.writeUInt16BE(40000, udp);
  frame.writeUInt16BE(10000 + (seq % 50000), udp + 2);
  frame.writeUInt16BE(udpLength, udp + 4);
  frame.writeUInt32BE(seq >>> 0, udp + 8);
  return frame;
}

export function* syntheticPcapngChunks(options: SyntheticCapture): Generator<Buffer> {
  const interfaces = options.interfaces ?? 2;
  const payload = options.payloadBytes ?? 200;
  const chunkBytes = options.chunkBytes ?? 256 * 1024;
  const start = options.startNs ?? 1_700_000_000_000_000_000n;
  const header = [encodeSectionHeader({ userAppl: 'synthetic' })];
  for (let i = 0; i < interfaces; i++) {
    header.push(
      encodeInterfaceDescription({
        linkType: LINKTYPE_ETHERNET,
        snaplen: 65535,
        name: 'eth0',
        description: `synthetic index=${i} `,
      }),
    );
  }
  yield Buffer.concat(header);
  let batch: Buffer[] = [];
  let batchBytes = 0;
  for (let seq = 0; seq < options.packets; seq++) {
    const frame = udpFrame(seq, payload);
    const epb = encodeEnhancedPacket(seq % interfaces, {
      timestampNs: start + BigInt(seq) * 1000n,
      originalLength: frame.length,
      data: frame,
    });
    batch.push(epb);
    batchBytes += epb.length;
    if (batchBytes >= chunkBytes) {
      yield Buffer.concat(batch, batchBytes);
      batch = [];
      batchBytes = 0;
    }
  }
  const endNs = start + BigInt(options.packets) * 1000n;
  for (let i = 0; i < interfaces; i++) {
    batch.push(
      encodeInterfaceStatistics(i, {
        timestampNs: endNs,
        ifRecv: Math.ceil(options.packets / interfaces),
        ifDrop: options.kernelDropsPerInterface ?? 0,
        osDrop: 0,
      }),
    );
  }
  yield Buffer.concat(batch);
}

export function syntheticPcapng(options: SyntheticCapture): Readable {
  return Readable.from(syntheticPcapngChunks(options), { objectMode: false });
}

/** Bytes of one synthetic EPB for `payloadBytes` (frames are 46 + payload bytes, padded to 4). */
export function syntheticPacketBytes(payloadBytes = 200): number {
  const frame = 46 + payloadBytes;
  return 32 + Math.ceil(frame / 4) * 4;
}
