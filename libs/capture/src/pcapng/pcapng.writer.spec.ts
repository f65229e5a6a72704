import { batchOf, udpPackets } from '../../test/synthetic-traffic.fixture';
import { packetsOf } from '../packet-batch';
import { PcapngWriter, stampInterfaceId } from './pcapng.writer';

describe('PcapngWriter', () => {
  it('requires the section header first and numbers interfaces per section', () => {
    const writer = new PcapngWriter({ userAppl: 'test' });
    expect(() => writer.writeInterface({ linkType: 1, snaplen: 0 })).toThrow(/writeSectionHeader/);
    expect(writer.writeSectionHeader().readUInt32LE(0)).toBe(0x0a0d0d0a);
    expect(writer.writeInterface({ linkType: 1, snaplen: 0 }).interfaceId).toBe(0);
    expect(writer.writeInterface({ linkType: 113, snaplen: 0, tsresol: 6 }).interfaceId).toBe(1);
    expect(writer.registeredInterfaces.map((i) => i.tsresol)).toEqual([9, 6]);
    writer.writeSectionHeader();
    expect(writer.registeredInterfaces).toHaveLength(0);
    expect(() =>
      writer.writePacket(0, { timestampNs: 0n, originalLength: 0, data: Buffer.alloc(0) }),
    ).toThrow(/not registered/);
  });

  it('stamps the interface id into every EPB of a batch in place and returns the same buffer', () => {
    const writer = new PcapngWriter();
    writer.writeSectionHeader();
    writer.writeInterface({ linkType: 1, snaplen: 0 });
    const { interfaceId } = writer.writeInterface({ linkType: 1, snaplen: 0 });
    const packets = udpPackets(5);
    const batch = batchOf(packets);
    const before = Buffer.from(batch.data);
    const out = writer.writeBatch(interfaceId, batch);
    expect(out).toBe(batch.data);
    let off = 0;
    let n = 0;
    while (off < out.length) {
      expect(out.readUInt32LE(off + 8)).toBe(1);
      // nothing but the 4 id bytes changed
      expect(
        out
          .subarray(off + 12, off + out.readUInt32LE(off + 4))
          .equals(before.subarray(off + 12, off + before.readUInt32LE(off + 4))),
      ).toBe(true);
      off += out.readUInt32LE(off + 4);
      n++;
    }
    expect(n).toBe(5);
    expect([...packetsOf(out)].map((p) => p.timestampNs)).toEqual(packets.map((p) => p.timestampNs));
  });

  it('refuses batches for non-nanosecond interfaces and malformed batches', () => {
    const writer = new PcapngWriter();
    writer.writeSectionHeader();
    writer.writeInterface({ linkType: 1, snaplen: 0, tsresol: 6 });
    expect(() => writer.writeBatch(0, batchOf(udpPackets(1)))).toThrow(/nanoseconds/);
    const bad = batchOf(udpPackets(2));
    expect(() => stampInterfaceId(bad.data, 1, 3)).toThrow(/claims 3/);
    expect(() => stampInterfaceId(bad.data.subarray(0, bad.data.length - 4), 1)).toThrow(RangeError);
    const notEpb = Buffer.from(bad.data);
    notEpb.writeUInt32LE(5, 0);
    expect(() => stampInterfaceId(notEpb, 1)).toThrow(/not a well-formed EPB/);
  });

  it('converts packet and statistics times to the interface resolution', () => {
    const writer = new PcapngWriter();
    writer.writeSectionHeader();
    writer.writeInterface({ linkType: 1, snaplen: 0, tsresol: 6 });
    const epb = writer.writePacket(0, {
      timestampNs: 1_000_000_999n,
      originalLength: 1,
      data: Buffer.from([1]),
    });
    expect(epb.readUInt32LE(16)).toBe(1_000_000);
    const isb = writer.writeStatistics(0, { timestampNs: 2_000_000_000n });
    expect(isb.readUInt32LE(16)).toBe(2_000_000);
    expect(
      writer
        .writeMessage({ type: 'CAPTURE_STOPPED', origin: 'x', message: 'y', timestampNs: 1n })
        .readUInt32LE(0),
    ).toBe(4);
  });
});
