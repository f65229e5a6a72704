import { T0, normalize, sampleMessage as message, sampleStream } from '../../test/pcapng-sample.fixture';
import { batchOf, udpFrame, udpPackets } from '../../test/synthetic-traffic.fixture';
import { CaptureFormatError } from './capture-format.error';
import { encodeSectionHeader } from './pcapng-block.encoder';
import { PcapngBlockParser, type PcapngEvent } from './pcapng-block.parser';
import { PcapngWriter } from './pcapng.writer';

function parseChunks(chunks: readonly Buffer[], mode: 'runs' | 'each' = 'runs'): PcapngEvent[] {
  const events: PcapngEvent[] = [];
  const parser = new PcapngBlockParser((e) => events.push(e), { packets: mode });
  for (const c of chunks) parser.push(c);
  parser.end();
  return events;
}

describe('PcapngBlockParser', () => {
  const stream = sampleStream();
  const whole = parseChunks([stream], 'each');

  it('decodes every block kind of a whole stream', () => {
    const types = whole.map((e) => e.type);
    expect(types).toEqual([
      'section',
      'message',
      'interface',
      'interface',
      'interface',
      'packet',
      'packet',
      'packet',
      'packet',
      'packet',
      'simplePacket',
      'packet',
      'packet',
      'statistics',
      'statistics',
      'section',
      'interface',
      'packet',
    ]);
    const [section, msg, eth0, lo, raw] = whole;
    expect(section).toMatchObject({
      type: 'section',
      userAppl: 'spec',
      os: 'Linux',
      comments: ['first section'],
    });
    expect(msg).toMatchObject({ type: 'message', message });
    expect(eth0).toMatchObject({
      name: 'eth0',
      description: 'app/0',
      filter: 'udp',
      tsresol: 9,
      snaplen: 65535,
    });
    expect(lo).toMatchObject({ name: 'lo', tsresol: 6, comments: ['µs'], interfaceId: 1 });
    expect(raw).toMatchObject({ linkType: 101, tsresol: 0x80 | 30, interfaceId: 2 });
    const packets = whole.filter((e) => e.type === 'packet');
    expect(packets[4]?.timestampNs).toBe(T0 + 3_000_000n - 1n); // 2^-30 s ticks cannot hold T0 + 3 ms exactly
    expect(packets.map((p) => [p.interfaceId, p.timestampNs])).toEqual([
      [0, T0 + 1000n],
      [0, T0 + 1000n + 1_000_001n],
      [0, T0 + 1000n + 2_000_002n],
      [1, T0 + 2_000_000n], // µs interface: sub-µs part truncated
      // 2^-30 s units: the writer truncates ns to units, the reader truncates units back to ns
      [2, ((((T0 + 3_000_000n) << 30n) / 1_000_000_000n) * 1_000_000_000n) >> 30n],
      [0, T0 + 4_000_000n],
      [0, T0 + 4_000_000n + 1_000_001n],
      [0, T0 + 7n],
    ]);
    expect(packets[3]).toMatchObject({
      comments: ['note'],
      capturedLength: udpFrame().length,
      originalLength: 100,
    });
    const stats = whole.filter((e) => e.type === 'statistics');
    expect(stats[0]).toMatchObject({
      interfaceId: 0,
      startTimeNs: T0,
      endTimeNs: T0 + 9n,
      ifRecv: 10n,
      ifDrop: 1n,
      osDrop: 2n,
    });
    expect(stats[0]).not.toHaveProperty('usrDeliv');
    expect(stats[1]).toMatchObject({ interfaceId: 1, timestampNs: T0 + 10_000n, ifRecv: 1n });
    const spb = whole.find((e) => e.type === 'simplePacket');
    // captured = min(original length, bytes in the block, snaplen of interface 0)
    expect(spb).toMatchObject({ originalLength: udpFrame().length });
    expect(spb?.type === 'simplePacket' && spb.data.equals(udpFrame())).toBe(true);
  });

  it('counts skipped blocks (custom block, foreign NRB)', () => {
    const parser = new PcapngBlockParser(() => undefined);
    parser.push(stream);
    expect(parser.skippedBlocks).toBe(2);
  });

  it('yields the same packets in runs mode, coalescing consecutive EPBs of a chunk', () => {
    const runs = parseChunks([stream]);
    const runEvents = runs.filter((e) => e.type === 'packets');
    expect(runEvents.map((e) => e.count)).toEqual([4, 1, 2, 1]);
    expect(normalize(runs)).toEqual(normalize(whole));
  });

  it('gives identical events for every split of the stream into two chunks', () => {
    const expected = normalize(whole);
    for (let cut = 0; cut <= stream.length; cut++) {
      const got = normalize(parseChunks([stream.subarray(0, cut), stream.subarray(cut)]));
      if (
        JSON.stringify(got, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) !==
        JSON.stringify(expected, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
      ) {
        throw new Error(`split at ${cut} changed the events`);
      }
    }
  });

  it('gives identical events for 1-byte and 3-way chunkings, in both modes', () => {
    const expected = normalize(whole);
    const bytes = [...stream].map((b) => Buffer.from([b]));
    expect(normalize(parseChunks(bytes))).toEqual(expected);
    expect(normalize(parseChunks(bytes, 'each'))).toEqual(expected);
    for (let a = 1; a < stream.length; a += 37) {
      for (let b = a; b < stream.length; b += 53) {
        const chunks = [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)];
        expect(normalize(parseChunks(chunks))).toEqual(expected);
      }
    }
  });

  it('views complete blocks inside a chunk instead of copying them', () => {
    const events = parseChunks([stream]);
    const run = events.find((e) => e.type === 'packets');
    expect(run?.type === 'packets' && run.data.buffer).toBe(stream.buffer);
  });

  it('rejects big-endian sections with a clear error', () => {
    const be = Buffer.alloc(28);
    be.writeUInt32BE(0x0a0d0d0a, 0);
    be.writeUInt32BE(28, 4);
    be.writeUInt32BE(0x1a2b3c4d, 8);
    be.writeUInt32BE(28, 24);
    expect(() => parseChunks([be])).toThrow(/big-endian pcapng sections are not supported/);
    expect(() => parseChunks([be])).toThrow(CaptureFormatError);
  });

  it('recognises classic pcap and other non-pcapng input', () => {
    const pcap = Buffer.alloc(24);
    pcap.writeUInt32LE(0xa1b2c3d4, 0);
    expect(() => parseChunks([pcap])).toThrow(
      /does not start with a pcapng Section Header Block \(it is classic pcap\)/,
    );
    expect(() => parseChunks([Buffer.from('GET / HTTP/1.1\r\n')])).toThrow(/does not start/);
  });

  it('bounds a single block by maxBlockBytes before buffering it', () => {
    const head = encodeSectionHeader();
    const huge = Buffer.alloc(12);
    huge.writeUInt32LE(6, 0);
    huge.writeUInt32LE(64 * 1024 * 1024, 4);
    const parser = new PcapngBlockParser(() => undefined, { maxBlockBytes: 1024 * 1024 });
    parser.push(head);
    expect(() => parser.push(huge)).toThrow(/is 67108864 bytes; the maximum is 1048576/);
    expect(parser.bufferedBytes).toBe(0);
    expect(() => parser.push(Buffer.alloc(4))).toThrow(/already failed/);
  });

  it('rejects a stream that ends inside a block, a bad trailer and unknown interfaces', () => {
    expect(() => parseChunks([stream.subarray(0, stream.length - 3)])).toThrow(/ends inside a block/);
    const badTrailer = Buffer.from(encodeSectionHeader());
    badTrailer.writeUInt32LE(32, badTrailer.length - 4);
    expect(() => parseChunks([badTrailer])).toThrow(/does not match its trailing length/);
    const w = new PcapngWriter();
    const noIdb = Buffer.concat([w.writeSectionHeader(), batchOf(udpPackets(1)).data]);
    expect(() => parseChunks([noIdb])).toThrow(/names interface 0, which has no IDB/);
    const badLen = Buffer.from(encodeSectionHeader());
    badLen.writeUInt32LE(30, 4);
    expect(() => parseChunks([badLen])).toThrow(/invalid length 30/);
  });

  it('checks every EPB inside a run of packets: a broken one in the middle names its problem', () => {
    const w = new PcapngWriter();
    const head = Buffer.concat([
      w.writeSectionHeader(),
      w.writeInterface({ linkType: 1, snaplen: 65535 }).block,
    ]);
    const run = (): Buffer => Buffer.from(batchOf(udpPackets(5)).data);
    const third = (data: Buffer): number => {
      let off = 0;
      for (let i = 0; i < 2; i++) off += data.readUInt32LE(off + 4);
      return off;
    };
    expect(parseChunks([head, run()]).filter((e) => e.type === 'packets')).toEqual([
      expect.objectContaining({ count: 5 }),
    ]);

    const badTrailer = run();
    const at = third(badTrailer);
    badTrailer.writeUInt32LE(4, at + badTrailer.readUInt32LE(at + 4) - 4);
    expect(() => parseChunks([head, badTrailer])).toThrow(/does not match its trailing length 4/);

    const tooLong = run();
    tooLong.writeUInt32LE(tooLong.readUInt32LE(third(tooLong) + 4), third(tooLong) + 20);
    expect(() => parseChunks([head, tooLong])).toThrow(/captured length \d+ exceeds its block/);

    const otherInterface = run();
    otherInterface.writeUInt32LE(1, third(otherInterface) + 8);
    expect(() => parseChunks([head, otherInterface])).toThrow(/names interface 1, which has no IDB/);

    const oddLength = run();
    oddLength.writeUInt32LE(oddLength.readUInt32LE(third(oddLength) + 4) + 2, third(oddLength) + 4);
    expect(() => parseChunks([head, oddLength])).toThrow(/has invalid length/);
  });
});
