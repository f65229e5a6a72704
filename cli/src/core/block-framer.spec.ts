import {
  encodeControlMessage,
  encodeEnhancedPacket,
  encodeInterfaceDescription,
  encodeInterfaceStatistics,
  encodeSectionHeader,
  PcapWriter,
} from '@pcap/capture';

import { framerFor, type FramedEvent } from './block-framer';
import { CliError } from './cli.errors';

function packet(i: number): { timestampNs: bigint; data: Buffer; originalLength: number } {
  const data = Buffer.alloc(60 + (i % 7), i & 0xff);
  return { timestampNs: 1_700_000_000_000_000_000n + BigInt(i) * 1000n, data, originalLength: data.length };
}

/** A pcapng stream and the offsets where its blocks end. */
function pcapngStream(): { data: Buffer; ends: number[] } {
  const blocks = [
    encodeSectionHeader({ userAppl: 'test' }),
    encodeInterfaceDescription({
      linkType: 1,
      snaplen: 65535,
      name: 'i0',
      description: 'app=a index=0 cell=c',
    }),
    ...Array.from({ length: 20 }, (_, i) => encodeEnhancedPacket(0, packet(i))),
    encodeControlMessage({
      type: 'CONGESTED',
      origin: 'api',
      message: '3 packets discarded',
      timestampNs: 1n,
      fields: { discardedPackets: 3 },
    }),
    encodeInterfaceDescription({
      linkType: 1,
      snaplen: 65535,
      name: 'i1',
      description: 'app=a index=2 cell=d',
    }),
    ...Array.from({ length: 5 }, (_, i) => encodeEnhancedPacket(1, packet(i))),
    encodeInterfaceStatistics(0, {
      timestampNs: 1_700_000_001_000_000_000n,
      ifRecv: 20n,
      ifDrop: 2n,
      osDrop: 1n,
    }),
  ];
  const ends: number[] = [];
  let at = 0;
  for (const b of blocks) ends.push((at += b.length));
  return { data: Buffer.concat(blocks), ends };
}

/** Feeds `data` cut at `cuts`; returns what was written and the events. */
function feed(
  format: 'pcapng' | 'pcap',
  data: Buffer,
  cuts: number[],
): { written: Buffer; events: FramedEvent[]; pending: number } {
  const framer = framerFor(format);
  const written: Buffer[] = [];
  const events: FramedEvent[] = [];
  let from = 0;
  for (const to of [...cuts, data.length]) {
    const out = framer.push(data.subarray(from, to));
    written.push(...out.blocks);
    events.push(...out.events);
    from = to;
  }
  return { written: Buffer.concat(written), events, pending: framer.pendingBytes };
}

describe('block framer: only whole blocks reach the output', () => {
  it('pcapng cut anywhere: written bytes always end on a block boundary; the whole stream comes out unchanged', () => {
    const { data, ends } = pcapngStream();
    for (let cut = 1; cut < data.length; cut += 7) {
      const framer = framerFor('pcapng');
      const first = Buffer.concat(framer.push(data.subarray(0, cut)).blocks);
      const boundary = Math.max(0, ...ends.filter((e) => e <= cut));
      expect(first.length).toBe(boundary);
      expect(first.equals(data.subarray(0, boundary))).toBe(true);
      expect(framer.pendingBytes).toBe(cut - boundary);
    }
    const all = feed('pcapng', data, [3, 50, 51, 400, 1000]);
    expect(all.written.equals(data)).toBe(true);
    expect(all.pending).toBe(0);
  });

  it('pcapng: reports interfaces (with the instance index), packets, statistics and messages', () => {
    const { events } = feed('pcapng', pcapngStream().data, [100, 700]);
    expect(events.filter((e) => e.kind === 'interface')).toEqual([
      { kind: 'interface', id: 0, name: 'i0', description: 'app=a index=0 cell=c' },
      { kind: 'interface', id: 1, name: 'i1', description: 'app=a index=2 cell=d' },
    ]);
    expect(events.reduce((n, e) => n + (e.kind === 'packets' ? e.count : 0), 0)).toBe(25);
    expect(events.find((e) => e.kind === 'statistics')).toEqual({
      kind: 'statistics',
      interfaceId: 0,
      ifDrop: 2n,
      osDrop: 1n,
    });
    const message = events.find((e) => e.kind === 'message');
    expect(message?.kind === 'message' && message.message.message).toBe('3 packets discarded');
  });

  it('classic pcap cut anywhere: header and whole records only', () => {
    const writer = new PcapWriter({ linkType: 1, snaplen: 65535 });
    const records = Array.from({ length: 10 }, (_, i) => writer.writePacket(packet(i)));
    const data = Buffer.concat([writer.writeHeader(), ...records]);
    const ends = [24];
    for (const r of records) ends.push(ends[ends.length - 1]! + r.length);
    for (let cut = 1; cut < data.length; cut += 5) {
      const framer = framerFor('pcap');
      const first = Buffer.concat(framer.push(data.subarray(0, cut)).blocks);
      const boundary = Math.max(0, ...ends.filter((e) => e <= cut));
      expect(first.length).toBe(boundary);
    }
    const all = feed('pcap', data, [10, 30, 200]);
    expect(all.written.equals(data)).toBe(true);
    expect(all.events.reduce((n, e) => n + (e.kind === 'packets' ? e.count : 0), 0)).toBe(10);
  });

  it('a stream that is not pcapng is a broken stream (exit 10), not a crash', () => {
    let error: unknown;
    try {
      framerFor('pcapng').push(Buffer.from('<html>not found</html>'.padEnd(64, ' ')));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(10);
  });
});
