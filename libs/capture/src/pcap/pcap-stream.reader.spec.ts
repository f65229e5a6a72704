import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { batchOf, udpPackets } from '../../test/synthetic-traffic.fixture';
import { PcapReader, PcapRecordParser, readPcap, type PcapEvent } from './pcap-stream.reader';
import { PcapWriter } from './pcap.writer';

function parse(chunks: readonly Buffer[]): PcapEvent[] {
  const events: PcapEvent[] = [];
  const parser = new PcapRecordParser((e) => events.push(e));
  for (const c of chunks) parser.push(c);
  parser.end();
  return events;
}

/** The same records re-encoded big-endian, to prove both byte orders are read. */
function toBigEndian(file: Buffer): Buffer {
  const out = Buffer.from(file);
  for (let i = 0; i < 24; i += 4) if (i !== 4) out.writeUInt32BE(file.readUInt32LE(i), i);
  out.writeUInt16BE(file.readUInt16LE(4), 4);
  out.writeUInt16BE(file.readUInt16LE(6), 6);
  let off = 24;
  while (off < file.length) {
    for (let i = 0; i < 16; i += 4) out.writeUInt32BE(file.readUInt32LE(off + i), off + i);
    off += 16 + file.readUInt32LE(off + 8);
  }
  return out;
}

describe('classic pcap reader', () => {
  const packets = udpPackets(4, { startNs: 1_700_000_000_987_654_321n, stepNs: 333_333_333n });
  const cases = [
    ['micro', 1000n],
    ['nano', 1n],
  ] as const;

  it.each(cases)('round-trips %s files in both byte orders with the right precision', (precision, unit) => {
    const writer = new PcapWriter({ linkType: 1, snaplen: 1500, precision });
    const file = Buffer.concat([writer.writeHeader(), writer.writeBatch(batchOf(packets))]);
    for (const [bytes, littleEndian] of [
      [file, true],
      [toBigEndian(file), false],
    ] as const) {
      const events = parse([bytes]);
      expect(events[0]).toEqual({
        type: 'header',
        precision,
        littleEndian,
        versionMajor: 2,
        versionMinor: 4,
        snaplen: 1500,
        linkType: 1,
      });
      const got = events.slice(1);
      expect(got).toHaveLength(packets.length);
      got.forEach((e, i) => {
        const p = packets[i];
        if (e.type !== 'packet' || p === undefined) throw new Error('expected a packet');
        expect(e.timestampNs).toBe((p.timestampNs / unit) * unit);
        expect(e.data.equals(p.frame)).toBe(true);
        expect(e.originalLength).toBe(p.frame.length);
      });
    }
  });

  it('gives identical events for every split into two chunks and for 1-byte chunks', () => {
    const writer = new PcapWriter({ linkType: 1, precision: 'nano' });
    const file = Buffer.concat([writer.writeHeader(), writer.writeBatch(batchOf(packets))]);
    const expected = JSON.stringify(parse([file]), (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
    for (let cut = 0; cut <= file.length; cut++) {
      const got = JSON.stringify(parse([file.subarray(0, cut), file.subarray(cut)]), (_k, v: unknown) =>
        typeof v === 'bigint' ? `${v}n` : v,
      );
      if (got !== expected) throw new Error(`split at ${cut} changed the events`);
    }
    const bytes = [...file].map((b) => Buffer.from([b]));
    expect(JSON.stringify(parse(bytes), (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))).toBe(
      expected,
    );
  });

  it('rejects pcapng, unknown magics, oversized records and truncation', () => {
    expect(() =>
      parse([Buffer.from('0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c000000', 'hex')]),
    ).toThrow(/it is pcapng/);
    const writer = new PcapWriter({ linkType: 1 });
    const file = Buffer.concat([writer.writeHeader(), writer.writeBatch(batchOf(packets))]);
    expect(() => parse([file.subarray(0, file.length - 1)])).toThrow(/ends inside a record/);
    const parser = new PcapRecordParser(() => undefined, { maxRecordBytes: 10 });
    expect(() => parser.push(file)).toThrow(/exceeds the maximum of 10/);
  });

  it('works as a Transform in a pipeline and with for-await', async () => {
    const writer = new PcapWriter({ linkType: 1 });
    const file = Buffer.concat([writer.writeHeader(), writer.writeBatch(batchOf(packets))]);
    const chunks = [file.subarray(0, 30), file.subarray(30, 31), file.subarray(31)];
    const seen: PcapEvent[] = [];
    await pipeline(
      Readable.from(chunks),
      new PcapReader(),
      new Writable({
        objectMode: true,
        write(e: PcapEvent, _enc, cb) {
          seen.push(e);
          cb();
        },
      }),
    );
    expect(seen.map((e) => e.type)).toEqual(['header', 'packet', 'packet', 'packet', 'packet']);
    let n = 0;
    for await (const e of readPcap(chunks)) if (e.type === 'packet') n++;
    expect(n).toBe(4);
  });
});
