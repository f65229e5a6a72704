/**
 * The time-ordered merge of several agents' pcapng streams, arriving slowly and in odd chunks, written to a
 * file and checked with tshark and capinfos: one section, every interface renumbered and labelled, packets per
 * interface, non-decreasing time, renumbered statistics, and messages for a failed input.
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { PcapngMerge, readPcapng, type ControlMessage, type PcapngEvent } from '../src/index';
import { agentStream, chunked } from './pcapng-stream.fixture';
import { udpPackets, type SyntheticPacket } from './synthetic-traffic.fixture';
import { TempDir } from './temp-dir.helper';
import { capinfos, capinfosValue, pcapngStructure, tsharkFields } from './wireshark-tools.helper';

const T0 = 1_700_000_000_000_000_000n;

/** Packets of one instance: a shared clock with per-instance jitter, so the inputs interleave closely. */
function instancePackets(count: number, seed: number, tag: string): SyntheticPacket[] {
  let t = T0 + BigInt(seed * 137);
  let x = seed;
  return udpPackets(count, { tag, srcPort: 40000 + seed }).map((p) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    t += 200_000n + BigInt(x % 1_600_000);
    return { ...p, timestampNs: t };
  });
}

/** Delivers `data` in odd chunks with small pauses, like a network stream. */
function trickle(data: Buffer, pauseEvery: number): Readable {
  return Readable.from(
    (async function* () {
      let n = 0;
      for (const chunk of chunked(data, [5, 300, 1, 1500, 64])) {
        if (++n % pauseEvery === 0) await delay(2);
        yield chunk;
      }
    })(),
    { objectMode: false },
  );
}

describe('pcapng merge, checked with tshark and capinfos', () => {
  const dir = new TempDir('pcapng-merge-e2e');
  const file = dir.file('merged.pcapng');
  const web0eth = instancePackets(120, 1, 'web0');
  const web0lo = instancePackets(30, 2, 'web0lo');
  const web1eth = instancePackets(150, 3, 'web1');
  const web2eth = instancePackets(80, 4, 'web2');
  const congested: ControlMessage = {
    type: 'CONGESTED',
    origin: 'agent cell-2',
    message: '7 packets discarded',
    timestampNs: T0 + 1_000_000n,
    fields: { discardedPackets: 7 },
  };
  let merge: PcapngMerge;
  const events: PcapngEvent[] = [];

  beforeAll(async () => {
    const eth = (description: string) => ({ linkType: 1, snaplen: 262144, name: 'eth0', description });
    const inputs = [
      agentStream([
        {
          description: eth('space s / app web / index 0'),
          packets: web0eth,
          stats: { ifRecv: 121, ifDrop: 1, osDrop: 0 },
        },
        {
          description: { linkType: 1, snaplen: 262144, name: 'lo' },
          packets: web0lo,
          stats: { ifRecv: 30, ifDrop: 0, osDrop: 0 },
        },
      ]),
      agentStream(
        [
          {
            description: eth('space s / app web / index 1'),
            packets: web1eth,
            stats: { ifRecv: 160, ifDrop: 3, osDrop: 7 },
          },
        ],
        {
          messages: [congested],
          batchSize: 8,
        },
      ),
      agentStream([{ description: eth('space s / app web / index 2'), packets: web2eth }], { batchSize: 1 }),
    ];
    const broken = agentStream([
      { description: eth('space s / app web / index 3'), packets: instancePackets(40, 5, 'web3') },
    ]);
    const failing = Readable.from(
      (async function* () {
        yield broken.subarray(0, Math.floor(broken.length / 2));
        await delay(5);
        throw new Error('agent cell-4 went away');
      })(),
      { objectMode: false },
    );
    merge = new PcapngMerge(
      [
        { source: trickle(inputs[0] as Buffer, 3), label: 'web/0' },
        { source: trickle(inputs[1] as Buffer, 5), label: 'web/1' },
        { source: trickle(inputs[2] as Buffer, 2), label: 'web/2' },
        { source: failing, label: 'web/3' },
      ],
      { section: { userAppl: 'pcap-cf merge e2e' }, origin: 'api', idleMs: 2000 },
    );
    await pipeline(merge, createWriteStream(file));
    for await (const e of readPcapng([readFileSync(file)], { packets: 'each' })) events.push(e);
  });

  afterAll(() => dir.remove());

  /** Output interface id of the interface with this name, as our reader saw it. */
  function interfaceIdOf(name: string): number {
    for (const e of events) if (e.type === 'interface' && e.name === name) return e.interfaceId;
    throw new Error(`no interface ${name}`);
  }

  it('capinfos: one clean file with every interface labelled and strictly ordered', async () => {
    const info = await capinfos(file);
    const web3Id = interfaceIdOf('web/3/eth0');
    const web3 = events.filter((e) => e.type === 'packet' && e.interfaceId === web3Id).length;
    expect(web3).toBeGreaterThan(0); // what the failed agent sent before it went away is kept
    expect(capinfosValue(info, 'Number of packets')).toBe(String(120 + 30 + 150 + 80 + web3));
    expect(capinfosValue(info, 'Capture application')).toBe('pcap-cf merge e2e');
    expect(capinfosValue(info, 'Number of interfaces in file')).toBe('5');
    expect(capinfosValue(info, 'Strict time order')).toBe('True');
    const names = [...info.matchAll(/^\s+Name = (.*)$/gm)].map((m) => m[1]);
    expect(names).toEqual(
      expect.arrayContaining(['web/0/eth0', 'web/0/lo', 'web/1/eth0', 'web/2/eth0', 'web/3/eth0']),
    );
  });

  it('tshark: per-interface counts and names, non-decreasing ns time, no negative deltas', async () => {
    const rows = await tsharkFields(file, [
      'frame.interface_id',
      'frame.interface_name',
      'frame.interface_description',
      'frame.time_epoch',
      'frame.time_delta',
      'udp.srcport',
    ]);
    const byName = new Map<string, string[][]>();
    for (const r of rows) byName.set(r[1] ?? '', [...(byName.get(r[1] ?? '') ?? []), r]);
    expect(byName.get('web/0/eth0')?.length).toBe(120);
    expect(byName.get('web/0/lo')?.length).toBe(30);
    expect(byName.get('web/1/eth0')?.length).toBe(150);
    expect(byName.get('web/2/eth0')?.length).toBe(80);
    expect(new Set(byName.get('web/1/eth0')?.map((r) => `${r[2]}|${r[5]}`))).toEqual(
      new Set(['space s / app web / index 1|40003']),
    );
    expect(new Set(byName.get('web/0/lo')?.map((r) => r[2]))).toEqual(new Set(['web/0'])); // no description → label
    const epoch = rows.map((r) => {
      const [s, ns] = (r[3] ?? '').split('.');
      return BigInt(s ?? '0') * 1_000_000_000n + BigInt((ns ?? '').padEnd(9, '0'));
    });
    for (let i = 1; i < epoch.length; i++) expect(epoch[i]! >= epoch[i - 1]!).toBe(true);
    expect(rows.every((r) => !(r[4] ?? '').startsWith('-'))).toBe(true);
    // each instance's packets are all there, with their exact ns timestamps
    const times = (name: string) => byName.get(name)?.map((r) => r[3]);
    const text = (p: SyntheticPacket) =>
      `${p.timestampNs / 1_000_000_000n}.${(p.timestampNs % 1_000_000_000n).toString().padStart(9, '0')}`;
    expect(times('web/1/eth0')).toEqual(web1eth.map(text));
    expect(times('web/2/eth0')).toEqual(web2eth.map(text));
    expect(merge.stats).toMatchObject({ latePackets: 0, failedInputs: 1, interfaces: 5 });
  });

  it("Wireshark's block dissector sees the statistics re-numbered to the output interfaces", async () => {
    const [types, ids, received, dropped, osDropped] = await pcapngStructure(file, [
      'pcapng.block.type',
      'pcapng.interface_id',
      'pcapng.options.option.data.interface.received',
      'pcapng.options.option.data.interface.dropped',
      'pcapng.options.option.data.interface.dropped_by_os',
    ]);
    const withInterface = (types ?? '').split(',').filter((t) => t === '0x00000006' || t === '0x00000005');
    const idList = (ids ?? '').split(',');
    expect(idList).toHaveLength(withInterface.length);
    const isbIds = idList.filter((_id, i) => withInterface[i] === '0x00000005');
    const stats = isbIds.map((id, i) => [
      id,
      received?.split(',')[i],
      dropped?.split(',')[i],
      osDropped?.split(',')[i],
    ]);
    expect(stats).toEqual(
      expect.arrayContaining([
        [String(interfaceIdOf('web/1/eth0')), '160', '3', '7'],
        [String(interfaceIdOf('web/0/lo')), '30', '0', '0'],
      ]),
    );
    expect(stats).toHaveLength(3);
  });

  it("messages: the agent's own pass through, the failed input becomes CONNECTION_ERROR", () => {
    const messages = events.filter((e) => e.type === 'message').map((e) => e.message);
    expect(messages).toContainEqual(congested);
    expect(messages.filter((m) => m.type === 'CONNECTION_ERROR')).toEqual([
      expect.objectContaining({
        origin: 'api',
        message: 'web/3: agent cell-4 went away',
        fields: { input: 'web/3' },
      }),
    ]);
  });
});
