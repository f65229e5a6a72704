import { batchOf, udpFrame, udpPackets } from '../../test/synthetic-traffic.fixture';
import { PcapWriter, splitNanoseconds } from './pcap.writer';

describe('PcapWriter', () => {
  it('writes the µs and ns file headers', () => {
    const micro = new PcapWriter({ linkType: 1, snaplen: 65535 }).writeHeader();
    expect(micro.toString('hex')).toBe(
      'd4c3b2a1' + '0200' + '0400' + '00000000' + '00000000' + 'ffff0000' + '01000000',
    );
    const nano = new PcapWriter({ linkType: 113, precision: 'nano' }).writeHeader();
    expect(nano.readUInt32LE(0)).toBe(0xa1b23c4d);
    expect(nano.readUInt32LE(16)).toBe(262144);
    expect(nano.readUInt32LE(20)).toBe(113);
  });

  it('splits 64-bit nanoseconds into seconds and remainder exactly, without bigint', () => {
    const out = new Float64Array(2);
    const samples = [0n, 999_999_999n, 1_000_000_000n, 1_700_000_000_123_456_789n, 0xffff_ffff_ffff_ffffn];
    let x = 0x1234_5678_9abc_def0n;
    for (let i = 0; i < 2000; i++) {
      x = (x * 6364136223846793005n + 1442695040888963407n) & 0xffff_ffff_ffff_ffffn;
      samples.push(x);
    }
    for (const ns of samples) {
      splitNanoseconds(Number(ns >> 32n), Number(ns & 0xffff_ffffn), out);
      expect([BigInt(out[0] ?? -1), BigInt(out[1] ?? -1)]).toEqual([
        ns / 1_000_000_000n,
        ns % 1_000_000_000n,
      ]);
    }
  });

  it('converts a batch to µs records (truncating) and ns records', () => {
    const packets = udpPackets(3, { startNs: 1_700_000_000_123_456_789n, stepNs: 1_000_000_333n });
    const batch = batchOf(packets);
    const micro = new PcapWriter({ linkType: 1 }).writeBatch(batch);
    const nano = new PcapWriter({ linkType: 1, precision: 'nano' }).writeBatch(batch);
    let off = 0;
    for (const p of packets) {
      const sec = Number(p.timestampNs / 1_000_000_000n);
      const frac = Number(p.timestampNs % 1_000_000_000n);
      expect(micro.readUInt32LE(off)).toBe(sec);
      expect(micro.readUInt32LE(off + 4)).toBe(Math.floor(frac / 1000));
      expect(nano.readUInt32LE(off)).toBe(sec);
      expect(nano.readUInt32LE(off + 4)).toBe(frac);
      expect(micro.readUInt32LE(off + 8)).toBe(p.frame.length);
      expect(micro.readUInt32LE(off + 12)).toBe(p.frame.length);
      expect(micro.subarray(off + 16, off + 16 + p.frame.length).equals(p.frame)).toBe(true);
      off += 16 + p.frame.length;
    }
    expect(off).toBe(micro.length);
  });

  it('cuts records to snaplen and keeps the original length', () => {
    const frame = udpFrame();
    const writer = new PcapWriter({ linkType: 1, snaplen: 20 });
    const rec = writer.writePacket({
      timestampNs: 1_000_000_000n,
      originalLength: frame.length,
      data: frame,
    });
    expect(rec.length).toBe(36);
    expect(rec.readUInt32LE(8)).toBe(20);
    expect(rec.readUInt32LE(12)).toBe(frame.length);
    const fromBatch = writer.writeBatch(batchOf([{ timestampNs: 1n, frame }]));
    expect(fromBatch.equals(Buffer.concat([fromBatch.subarray(0, 16), frame.subarray(0, 20)]))).toBe(true);
    expect(fromBatch.readUInt32LE(8)).toBe(20);
  });

  it('rejects times classic pcap cannot hold and malformed batches', () => {
    const writer = new PcapWriter({ linkType: 1 });
    expect(() =>
      writer.writePacket({
        timestampNs: 2n ** 32n * 1_000_000_000n,
        originalLength: 0,
        data: Buffer.alloc(0),
      }),
    ).toThrow(/does not fit/);
    expect(() => writer.writeBatch(Buffer.alloc(40))).toThrow(/not a well-formed EPB/);
    expect(() => new PcapWriter({ linkType: 1, snaplen: 0 })).toThrow(RangeError);
  });
});
