/**
 * Classic pcap files (µs and ns magics) written by PcapWriter, checked with capinfos/tshark; and the classic
 * pcap reader checked against files written by Wireshark's own editcap.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import {
  PcapngWriter,
  PcapWriter,
  readPcap,
  type PcapEvent,
  type PcapPacketEvent,
  type PcapPrecision,
} from '../src/index';
import { batchOf, epochText, udpPackets } from './synthetic-traffic.fixture';
import { TempDir } from './temp-dir.helper';
import { capinfos, capinfosValue, runClean, tsharkFields } from './wireshark-tools.helper';

const T0 = 1_700_000_000_123_456_789n;
const packets = udpPackets(20, { startNs: T0, stepNs: 1_234_567n });

async function readAll(file: string): Promise<PcapEvent[]> {
  const events: PcapEvent[] = [];
  const data = readFileSync(file);
  const chunks = [data.subarray(0, 10), data.subarray(10, 77), data.subarray(77)];
  for await (const e of readPcap(chunks)) events.push(e);
  return events;
}

describe('classic pcap, checked with capinfos and tshark', () => {
  const dir = new TempDir('pcap-writer-e2e');
  afterAll(() => dir.remove());

  const cases: Array<[PcapPrecision, string, string, bigint]> = [
    ['micro', 'pcap', 'microseconds (6)', 1000n],
    ['nano', 'nsecpcap', 'nanoseconds (9)', 1n],
  ];

  it.each(cases)(
    '%s: right file type, precision, count and timestamps',
    async (precision, type, precisionText, unit) => {
      const file = dir.file(`${precision}.pcap`);
      const writer = new PcapWriter({ linkType: 1, snaplen: 65535, precision });
      writeFileSync(
        file,
        Buffer.concat([
          writer.writeHeader(),
          writer.writeBatch(batchOf(packets.slice(0, 10))),
          ...packets.slice(10).map((p) =>
            writer.writePacket({
              timestampNs: p.timestampNs,
              originalLength: p.frame.length,
              data: p.frame,
            }),
          ),
        ]),
      );
      const info = await capinfos(file);
      expect(capinfosValue(info, 'File type')).toBe(type);
      expect(capinfosValue(info, 'File encapsulation')).toBe('ether');
      expect(capinfosValue(info, 'File timestamp precision')).toBe(precisionText);
      expect(capinfosValue(info, 'Number of packets')).toBe('20');
      expect(capinfosValue(info, 'Strict time order')).toBe('True');
      const rows = await tsharkFields(
        file,
        ['frame.time_epoch', 'frame.len', 'udp.checksum.status'],
        ['-o', 'udp.check_checksum:TRUE'],
      );
      expect(rows.map((r) => r[0])).toEqual(packets.map((p) => epochText((p.timestampNs / unit) * unit)));
      expect(rows.map((r) => Number(r[1]))).toEqual(packets.map((p) => p.frame.length));
      expect(rows.every((r) => r[2] === '1')).toBe(true);
    },
  );

  it('cuts packets to snaplen and keeps their original length', async () => {
    const file = dir.file('snap.pcap');
    const writer = new PcapWriter({ linkType: 1, snaplen: 40 });
    writeFileSync(file, Buffer.concat([writer.writeHeader(), writer.writeBatch(batchOf(packets))]));
    const info = await capinfos(file);
    expect(capinfosValue(info, 'Packet size limit')).toBe('file hdr: 40 bytes');
    const rows = await tsharkFields(file, ['frame.cap_len', 'frame.len']);
    expect(rows).toEqual(packets.map((p) => ['40', String(p.frame.length)]));
  });

  it.each([
    ['pcap', 'micro', 1000n],
    ['nsecpcap', 'nano', 1n],
  ] as const)('reads what editcap -F %s writes', async (format, precision, unit) => {
    const source = dir.file(`source-${format}.pcapng`);
    const converted = dir.file(`editcap-${format}.pcap`);
    const w = new PcapngWriter();
    const parts = [
      w.writeSectionHeader(),
      w.writeInterface({ linkType: 1, snaplen: 262144 }).block,
      w.writeBatch(0, batchOf(packets)),
    ];
    writeFileSync(source, Buffer.concat(parts));
    await runClean('editcap', ['-F', format, source, converted]);
    const events = await readAll(converted);
    expect(events[0]).toMatchObject({ type: 'header', precision, linkType: 1, littleEndian: true });
    const got = events.filter((e): e is PcapPacketEvent => e.type === 'packet');
    expect(got.map((e) => e.timestampNs)).toEqual(packets.map((p) => (p.timestampNs / unit) * unit));
    expect(got.map((e) => e.data)).toEqual(packets.map((p) => p.frame));
  });
});
