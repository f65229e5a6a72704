/**
 * Synthetic, well-formed traffic for format tests: Ethernet II / IPv4 / UDP frames with correct IPv4 header and
 * UDP checksums, and PacketBatches built byte by byte (independently of the pcapng encoder under test).
 */
import type { PacketBatch } from '../src/index';

export interface UdpFrameSpec {
  readonly srcIp?: string;
  readonly dstIp?: string;
  readonly srcPort?: number;
  readonly dstPort?: number;
  readonly payload?: Buffer;
  readonly ipId?: number;
}

function ipBytes(ip: string): Buffer {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`bad IPv4 address ${ip}`);
  }
  return Buffer.from(parts);
}

/** RFC 1071 one's-complement sum of 16-bit words, folded and complemented. */
export function internetChecksum(...parts: Buffer[]): number {
  let sum = 0;
  for (const part of parts) {
    for (let i = 0; i < part.length; i += 2) {
      sum += (part[i] ?? 0) * 256 + (part[i + 1] ?? 0);
    }
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** One Ethernet/IPv4/UDP frame with valid checksums. */
export function udpFrame(spec: UdpFrameSpec = {}): Buffer {
  const payload = spec.payload ?? Buffer.from('pcap-cf test payload');
  const src = ipBytes(spec.srcIp ?? '10.0.0.1');
  const dst = ipBytes(spec.dstIp ?? '10.0.0.2');
  const udpLength = 8 + payload.length;
  const eth = Buffer.from('02000000000202000000000108 00'.replace(/ /g, ''), 'hex');
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + udpLength, 2);
  ip.writeUInt16BE(spec.ipId ?? 1, 4);
  ip[8] = 64;
  ip[9] = 17;
  src.copy(ip, 12);
  dst.copy(ip, 16);
  ip.writeUInt16BE(internetChecksum(ip), 10);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(spec.srcPort ?? 40000, 0);
  udp.writeUInt16BE(spec.dstPort ?? 50000, 2);
  udp.writeUInt16BE(udpLength, 4);
  const pseudo = Buffer.concat([
    src,
    dst,
    Buffer.from([0, 17]),
    Buffer.from([udpLength >> 8, udpLength & 0xff]),
  ]);
  const padded = payload.length % 2 === 0 ? payload : Buffer.concat([payload, Buffer.from([0])]);
  const sum = internetChecksum(pseudo, udp, padded);
  udp.writeUInt16BE(sum === 0 ? 0xffff : sum, 6);
  return Buffer.concat([eth, ip, udp, payload]);
}

/** A packet for a synthetic batch. */
export interface SyntheticPacket {
  readonly timestampNs: bigint;
  readonly frame: Buffer;
  /** Defaults to the frame length (nothing truncated). */
  readonly originalLength?: number;
}

/** Builds a PacketBatch exactly as the engine delivers it: back-to-back LE EPBs, interface 0, ns timestamps. */
export function batchOf(packets: readonly SyntheticPacket[]): PacketBatch {
  const blocks = packets.map(({ timestampNs, frame, originalLength }) => {
    const padded = (frame.length + 3) & ~3;
    const block = Buffer.alloc(32 + padded);
    block.writeUInt32LE(6, 0);
    block.writeUInt32LE(block.length, 4);
    block.writeUInt32LE(0, 8);
    block.writeUInt32LE(Number(timestampNs >> 32n), 12);
    block.writeUInt32LE(Number(timestampNs & 0xffffffffn), 16);
    block.writeUInt32LE(frame.length, 20);
    block.writeUInt32LE(originalLength ?? frame.length, 24);
    frame.copy(block, 28);
    block.writeUInt32LE(block.length, block.length - 4);
    return block;
  });
  return { data: Buffer.concat(blocks), count: packets.length };
}

/** `count` UDP packets, `stepNs` apart from `startNs`, payload sizes varying so padding is exercised. */
export function udpPackets(
  count: number,
  options: { startNs?: bigint; stepNs?: bigint; srcPort?: number; tag?: string } = {},
): SyntheticPacket[] {
  const start = options.startNs ?? 1_700_000_000_123_456_789n;
  const step = options.stepNs ?? 1_000_001n;
  return Array.from({ length: count }, (_, i) => ({
    timestampNs: start + BigInt(i) * step,
    frame: udpFrame({
      srcPort: options.srcPort ?? 40000,
      ipId: (i + 1) & 0xffff,
      payload: Buffer.from(`${options.tag ?? 'pkt'} #${i} ${'x'.repeat(i % 7)}`),
    }),
  }));
}

/** Formats ns since the epoch like tshark's frame.time_epoch (`seconds.nnnnnnnnn`). */
export function epochText(ns: bigint): string {
  return `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;
}
