/**
 * Why control messages travel in empty Name Resolution Blocks and not in pcapng Custom Blocks: the same packets
 * written with no messages, with our NRB messages and with Custom Blocks, read by the installed tshark/capinfos.
 * The Custom Block case pins down the behaviour that ruled it out (tshark 4.0 turns each one into a frame); if a
 * future Wireshark stops doing that, this test fails and docs/pcapng-stream.md should be revisited.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { PcapngWriter, PCAP_CF_PEN, readPcapng, type ControlMessage } from '../src/index';
import { encodeCustomBlock } from '../src/pcapng/pcapng-block.encoder';
import { batchOf, udpPackets } from './synthetic-traffic.fixture';
import { TempDir } from './temp-dir.helper';
import { capinfos, capinfosValue, runClean, runTool, tsharkFields } from './wireshark-tools.helper';

const T0 = 1_700_000_000_000_000_123n;
const packets = udpPackets(10, { startNs: T0, stepNs: 10_000_007n });

const allTypes: ControlMessage[] = [
  {
    type: 'INSTANCE_UNAVAILABLE',
    origin: 'api',
    message: 'instance 2 is CRASHED',
    timestampNs: T0,
    fields: { instanceIndex: 2 },
  },
  {
    type: 'START_CAPTURE_FAILED',
    origin: 'agent cell-2',
    message: 'eth1: no such device',
    timestampNs: T0 + 1n,
  },
  { type: 'INVALID_REQUEST', origin: 'api', message: 'filter is not printable ASCII', timestampNs: T0 + 2n },
  {
    type: 'CONGESTED',
    origin: 'agent cell-1',
    message: '1234 packets discarded',
    timestampNs: T0 + 3n,
    fields: { discardedPackets: 1234, discardedBytes: 98765 },
  },
  {
    type: 'LIMIT_REACHED',
    origin: 'api',
    message: 'byte limit of 100 MB reached',
    timestampNs: T0 + 4n,
    fields: { limit: 'bytes' },
  },
  { type: 'CAPTURE_STOPPED', origin: 'api', message: 'stopped by the user', timestampNs: T0 + 5n },
  {
    type: 'CONNECTION_ERROR',
    origin: 'api',
    message: 'agent cell-3: connection reset',
    timestampNs: T0 + 6n,
  },
];

type Encoding = 'none' | 'nrb' | 'custom-block';

/** SHB, a message, IDB, then packets with a message after every batch of 2, messages at the end. */
function write(encoding: Encoding): Buffer {
  const writer = new PcapngWriter({ userAppl: 'encoding e2e' });
  const message = (m: ControlMessage): Buffer[] => {
    if (encoding === 'nrb') return [writer.writeMessage(m)];
    if (encoding === 'custom-block') {
      return [
        encodeCustomBlock(
          PCAP_CF_PEN,
          Buffer.from(JSON.stringify({ ...m, timestampNs: m.timestampNs.toString() })),
        ),
      ];
    }
    return [];
  };
  const parts: Buffer[] = [writer.writeSectionHeader(), ...message(allTypes[0] as ControlMessage)];
  const { interfaceId, block } = writer.writeInterface({ linkType: 1, snaplen: 262144, name: 'eth0' });
  parts.push(block);
  for (let i = 0; i < packets.length; i += 2) {
    parts.push(writer.writeBatch(interfaceId, batchOf(packets.slice(i, i + 2))));
    parts.push(...message(allTypes[1 + i / 2] as ControlMessage));
  }
  parts.push(...message(allTypes[6] as ControlMessage));
  parts.push(
    writer.writeStatistics(interfaceId, { timestampNs: T0 + 100_000_000n, ifRecv: 10, ifDrop: 0, osDrop: 0 }),
  );
  return Buffer.concat(parts);
}

describe('control message encoding, judged by tshark 4.0 and capinfos', () => {
  const dir = new TempDir('pcapng-encoding-e2e');
  const files: Record<Encoding, string> = {
    none: dir.file('none.pcapng'),
    nrb: dir.file('nrb.pcapng'),
    'custom-block': dir.file('custom-block.pcapng'),
  };

  beforeAll(() => {
    for (const encoding of Object.keys(files) as Encoding[]) writeFileSync(files[encoding], write(encoding));
  });

  afterAll(() => dir.remove());

  it('NRB messages: tshark and capinfos read the file exactly like the file without messages', async () => {
    const [plain, withMessages] = [await capinfos(files.none), await capinfos(files.nrb)];
    for (const key of [
      'Number of packets',
      'Capture duration',
      'First packet time',
      'Last packet time',
      'Strict time order',
      'Number of interfaces in file',
    ]) {
      expect(capinfosValue(withMessages, key)).toBe(capinfosValue(plain, key));
    }
    expect(capinfosValue(withMessages, 'Number of packets')).toBe('10');
    expect(capinfosValue(withMessages, 'Strict time order')).toBe('True');

    const frames = await tsharkFields(files.nrb, ['frame.number', 'frame.time_epoch', 'frame.protocols']);
    expect(frames).toEqual(
      await tsharkFields(files.none, ['frame.number', 'frame.time_epoch', 'frame.protocols']),
    );
    expect(frames).toHaveLength(10);
    expect(frames.every((f) => f[2] === 'eth:ethertype:ip:udp:data')).toBe(true);
    const ioStat = await runClean('tshark', ['-r', files.nrb, '-q', '-z', 'io,stat,0']);
    expect(ioStat).toMatch(/\|\s+10\s+\|/);
    // two-pass reading and the verbose dissection also stay clean
    expect((await runClean('tshark', ['-r', files.nrb, '-2', '-V'])).length).toBeGreaterThan(0);
  });

  it('NRB messages: our reader gets every message type back', async () => {
    const got: ControlMessage[] = [];
    for await (const e of readPcapng([readFileSync(files.nrb)]))
      if (e.type === 'message') got.push(e.message);
    expect(got).toEqual(allTypes);
  });

  it('Custom Blocks (the rejected alternative) become extra frames in tshark and break capinfos times', async () => {
    const run = await runTool('tshark', [
      '-r',
      files['custom-block'],
      '-T',
      'fields',
      '-e',
      'frame.number',
      '-e',
      'frame.protocols',
    ]);
    expect(run.code).toBe(0);
    const rows = run.stdout.split('\n').filter((l) => l !== '');
    expect(rows.length).toBe(10 + allTypes.length);
    // the extra frames are the blocks themselves, not packets
    expect(rows.filter((r) => !r.includes('udp'))).toHaveLength(allTypes.length);
    const info = await capinfos(files['custom-block']);
    expect(capinfosValue(info, 'Number of packets')).toBe('10');
    expect(info).not.toMatch(/Capture duration/);
    expect(capinfosValue(info, 'Strict time order')).toBe('Unknown');
  });
});
