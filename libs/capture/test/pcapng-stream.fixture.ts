/**
 * Builds pcapng byte streams like an agent sends them (SHB, IDBs, batches, statistics, messages), and helpers to
 * feed them in odd chunk sizes and to read a whole stream back.
 */
import { Readable } from 'node:stream';
import {
  PcapngBlockParser,
  PcapngWriter,
  type ControlMessage,
  type InterfaceDescription,
  type PcapngEvent,
} from '../src/index';
import { batchOf, udpPackets, type SyntheticPacket } from './synthetic-traffic.fixture';

export interface AgentInterface {
  readonly description: InterfaceDescription;
  readonly packets: readonly SyntheticPacket[];
  readonly stats?: { readonly ifRecv: number; readonly ifDrop: number; readonly osDrop: number };
}

/** One agent's stream: interfaces, their packets interleaved by time in batches of `batchSize`, then ISBs. */
export function agentStream(
  interfaces: readonly AgentInterface[],
  options: { batchSize?: number; messages?: readonly ControlMessage[]; userAppl?: string } = {},
): Buffer {
  const writer = new PcapngWriter({ userAppl: options.userAppl ?? 'pcap-cf test agent' });
  const parts: Buffer[] = [writer.writeSectionHeader()];
  const ids = interfaces.map((i) => {
    const { interfaceId, block } = writer.writeInterface(i.description);
    parts.push(block);
    return interfaceId;
  });
  const all = interfaces
    .flatMap((i, n) => i.packets.map((p) => ({ p, id: ids[n] ?? 0 })))
    .sort((a, b) => (a.p.timestampNs < b.p.timestampNs ? -1 : a.p.timestampNs > b.p.timestampNs ? 1 : 0));
  const size = options.batchSize ?? 3;
  for (let i = 0; i < all.length;) {
    const id = all[i]?.id ?? 0;
    const run: SyntheticPacket[] = [];
    while (i < all.length && all[i]?.id === id && run.length < size) {
      const next = all[i];
      if (next !== undefined) run.push(next.p);
      i++;
    }
    parts.push(writer.writeBatch(id, batchOf(run)));
  }
  for (const m of options.messages ?? []) parts.push(writer.writeMessage(m));
  interfaces.forEach((i, n) => {
    const last = i.packets[i.packets.length - 1]?.timestampNs ?? 0n;
    if (i.stats)
      parts.push(writer.writeStatistics(ids[n] ?? 0, { timestampNs: last, endTimeNs: last, ...i.stats }));
  });
  return Buffer.concat(parts);
}

/** Splits a buffer into chunks of the given sizes, cycling through them. */
export function chunked(data: Buffer, sizes: readonly number[] = [7, 1, 100, 33, 4096]): Buffer[] {
  const chunks: Buffer[] = [];
  for (let off = 0, i = 0; off < data.length; i++) {
    const size = sizes[i % sizes.length] ?? 64;
    chunks.push(data.subarray(off, off + size));
    off += size;
  }
  return chunks;
}

/** A Readable of `data` in odd chunks. */
export function chunkedReadable(data: Buffer, sizes?: readonly number[]): Readable {
  return Readable.from(chunked(data, sizes), { objectMode: false });
}

/** Reads a whole Readable into one Buffer. */
export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Parses a complete pcapng buffer into decoded events (one `packet` event per EPB). */
export function parseAll(data: Buffer): PcapngEvent[] {
  const events: PcapngEvent[] = [];
  const parser = new PcapngBlockParser((e) => events.push(e), { packets: 'each' });
  parser.push(data);
  parser.end();
  return events;
}

export { udpPackets };
