/**
 * Files written by PcapngWriter, checked with the real Wireshark tools (tshark, capinfos) and read back by our
 * own reader: packets per interface, names/descriptions, ns timestamps, checksums, statistics and messages.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { PcapngWriter, readPcapng, type ControlMessage, type PcapngEvent } from '../src/index';
import { batchOf, epochText, udpPackets } from './synthetic-traffic.fixture';
import { TempDir } from './temp-dir.helper';
import { capinfos, capinfosValue, pcapngStructure, tsharkFields } from './wireshark-tools.helper';

const T0 = 1_700_000_000_123_456_789n;
const ETH0_DESC = 'org o1 / space s1 / app web / process web / index 0 / instance 6f0c5f0e / cell 10.0.16.5';

const messages: ControlMessage[] = [
  {
    type: 'INSTANCE_UNAVAILABLE',
    origin: 'api',
    message: 'instance 1 is DOWN',
    timestampNs: T0 - 5n,
    fields: { instanceIndex: 1 },
  },
  {
    type: 'CONGESTED',
    origin: 'agent 10.0.16.5',
    message: '3 packets discarded',
    timestampNs: T0 + 50_000_000n,
    fields: { discardedPackets: 3, discardedBytes: 180 },
  },
  {
    type: 'CAPTURE_STOPPED',
    origin: 'agent 10.0.16.5',
    message: 'stopped by the user',
    timestampNs: T0 + 99_000_000n,
  },
];

describe('pcapng writer, checked with tshark and capinfos', () => {
  const dir = new TempDir('pcapng-writer-e2e');
  const file = dir.file('capture.pcapng');
  const eth0 = udpPackets(25, { startNs: T0, stepNs: 1_000_003n, tag: 'eth0' });
  const lo = udpPackets(10, { startNs: T0 + 500n, stepNs: 2_500_007n, tag: 'lo', srcPort: 41000 });

  beforeAll(() => {
    const writer = new PcapngWriter({
      userAppl: 'pcap-cf e2e',
      hardware: 'x86_64',
      os: 'Linux',
      comments: ['e2e section'],
    });
    const parts: Buffer[] = [writer.writeSectionHeader()];
    // a message before any interface: the case of an instance that is down from the start
    parts.push(writer.writeMessage(messages[0] as ControlMessage));
    const ifEth0 = writer.writeInterface({
      linkType: 1,
      snaplen: 262144,
      name: 'eth0',
      description: ETH0_DESC,
      filter: 'udp',
    });
    const ifLo = writer.writeInterface({
      linkType: 1,
      snaplen: 262144,
      name: 'lo',
      description: 'loopback of instance 0',
    });
    parts.push(ifEth0.block, ifLo.block);
    // eth0 in batches (the hot path), lo one by one, interleaved in time as a live capture would be
    const timeline = [...eth0.map((p) => ({ p, lo: false })), ...lo.map((p) => ({ p, lo: true }))].sort(
      (a, b) => (a.p.timestampNs < b.p.timestampNs ? -1 : 1),
    );
    let run: typeof eth0 = [];
    const flush = (): void => {
      if (run.length > 0) parts.push(writer.writeBatch(ifEth0.interfaceId, batchOf(run)));
      run = [];
    };
    timeline.forEach(({ p, lo: isLo }, i) => {
      if (isLo) {
        flush();
        parts.push(
          writer.writePacket(ifLo.interfaceId, {
            timestampNs: p.timestampNs,
            originalLength: p.frame.length,
            data: p.frame,
          }),
        );
      } else {
        run.push(p);
      }
      if (i === 17) {
        flush();
        parts.push(writer.writeMessage(messages[1] as ControlMessage));
      }
    });
    flush();
    parts.push(writer.writeMessage(messages[2] as ControlMessage));
    parts.push(
      writer.writeStatistics(ifEth0.interfaceId, {
        timestampNs: T0 + 100_000_000n,
        startTimeNs: T0 - 1_000_000n,
        endTimeNs: T0 + 100_000_000n,
        ifRecv: 30,
        ifDrop: 2,
        osDrop: 3,
      }),
      writer.writeStatistics(ifLo.interfaceId, {
        timestampNs: T0 + 100_000_000n,
        ifRecv: 10,
        ifDrop: 0,
        osDrop: 0,
      }),
    );
    writeFileSync(file, Buffer.concat(parts));
  });

  afterAll(() => dir.remove());

  it('capinfos reads it cleanly with the right counts, names and ns precision', async () => {
    const info = await capinfos(file);
    expect(capinfosValue(info, 'File type')).toBe('pcapng');
    expect(capinfosValue(info, 'Number of packets')).toBe('35');
    expect(capinfosValue(info, 'File timestamp precision')).toBe('nanoseconds (9)');
    expect(capinfosValue(info, 'Capture application')).toBe('pcap-cf e2e');
    expect(capinfosValue(info, 'Capture comment')).toBe('e2e section');
    expect(capinfosValue(info, 'Number of interfaces in file')).toBe('2');
    expect(capinfosValue(info, 'Strict time order')).toBe('True');
    expect(capinfosValue(info, 'First packet time')).toBe('2023-11-14 22:13:20.123456789');
    const [, if0, if1] = info.split(/Interface #\d+ info:/);
    expect(capinfosValue(if0 ?? '', 'Name')).toBe('eth0');
    expect(capinfosValue(if0 ?? '', 'Description')).toBe(ETH0_DESC);
    expect(capinfosValue(if0 ?? '', 'Filter string')).toBe('udp');
    expect(capinfosValue(if0 ?? '', 'Time precision')).toBe('nanoseconds (9)');
    expect(capinfosValue(if0 ?? '', 'Number of packets')).toBe('25');
    expect(capinfosValue(if0 ?? '', 'Number of stat entries')).toBe('1');
    expect(capinfosValue(if1 ?? '', 'Name')).toBe('lo');
    expect(capinfosValue(if1 ?? '', 'Number of packets')).toBe('10');
  });

  it('tshark sees every packet on its interface with exact ns timestamps and valid checksums', async () => {
    const rows = await tsharkFields(
      file,
      [
        'frame.interface_id',
        'frame.interface_name',
        'frame.interface_description',
        'frame.time_epoch',
        'ip.checksum.status',
        'udp.checksum.status',
        'udp.srcport',
      ],
      ['-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE'],
    );
    expect(rows).toHaveLength(35); // messages add no frames
    const eth0Rows = rows.filter((r) => r[0] === '0');
    const loRows = rows.filter((r) => r[0] === '1');
    expect(eth0Rows.map((r) => r[3])).toEqual(eth0.map((p) => epochText(p.timestampNs)));
    expect(loRows.map((r) => r[3])).toEqual(lo.map((p) => epochText(p.timestampNs)));
    expect(new Set(eth0Rows.map((r) => `${r[1]}|${r[2]}|${r[6]}`))).toEqual(
      new Set([`eth0|${ETH0_DESC}|40000`]),
    );
    expect(new Set(loRows.map((r) => `${r[1]}|${r[2]}|${r[6]}`))).toEqual(
      new Set(['lo|loopback of instance 0|41000']),
    );
    // checksum status 1 = "Good": the synthetic frames are real UDP/IPv4
    expect(rows.every((r) => r[4] === '1' && r[5] === '1')).toBe(true);
  });

  it("Wireshark's own block dissector sees the ISB counters and the message comments", async () => {
    const [types, interfaceIds, received, dropped, osDropped, comments, tsresol] = await pcapngStructure(
      file,
      [
        'pcapng.block.type',
        'pcapng.interface_id',
        'pcapng.options.option.data.interface.received',
        'pcapng.options.option.data.interface.dropped',
        'pcapng.options.option.data.interface.dropped_by_os',
        'pcapng.options.option.data.comment',
        'pcapng.options.option.data.interface.timestamp_resolution',
      ],
    );
    const blockTypes = types?.split(',') ?? [];
    expect(blockTypes.filter((t) => t === '0x00000006')).toHaveLength(35);
    expect(blockTypes.filter((t) => t === '0x00000004')).toHaveLength(3);
    expect(blockTypes.filter((t) => t === '0x00000005')).toHaveLength(2);
    expect(blockTypes[1]).toBe('0x00000004'); // the first message precedes the IDBs
    // interface ids of the EPBs then the two ISBs
    expect(interfaceIds?.split(',').slice(-2)).toEqual(['0', '1']);
    expect(received).toBe('30,10');
    expect(dropped).toBe('2,0');
    expect(osDropped).toBe('3,0');
    expect(tsresol).toBe('0x09,0x09');
    expect(comments).toContain('[pcap-cf] CONGESTED from agent 10.0.16.5: 3 packets discarded');
    expect(comments).toContain('[pcap-cf] INSTANCE_UNAVAILABLE from api: instance 1 is DOWN');
  });

  it('our reader gets the messages, statistics and packets back', async () => {
    const events: PcapngEvent[] = [];
    for await (const e of readPcapng([readFileSync(file)], { packets: 'each' })) events.push(e);
    expect(events.filter((e) => e.type === 'message').map((e) => e.message)).toEqual(messages);
    const stats = events.filter((e) => e.type === 'statistics');
    expect(stats[0]).toMatchObject({
      interfaceId: 0,
      startTimeNs: T0 - 1_000_000n,
      endTimeNs: T0 + 100_000_000n,
      ifRecv: 30n,
      ifDrop: 2n,
      osDrop: 3n,
    });
    const packets = events.filter((e) => e.type === 'packet');
    expect(packets.filter((p) => p.interfaceId === 0).map((p) => p.data)).toEqual(eth0.map((p) => p.frame));
  });
});
