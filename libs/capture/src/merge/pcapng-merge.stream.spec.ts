import { PassThrough, Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import {
  agentStream,
  chunkedReadable,
  collect,
  parseAll,
  udpPackets,
} from '../../test/pcapng-stream.fixture';
import type { ControlMessage } from '../pcapng/control-message.model';
import type { PcapngEvent, PcapngPacketEvent } from '../pcapng/pcapng-block.parser';
import { PcapngMerge } from './pcapng-merge.stream';

const T0 = 1_700_000_000_000_000_000n;
const eth = (name: string, description?: string) => ({
  linkType: 1,
  snaplen: 262144,
  name,
  ...(description === undefined ? {} : { description }),
});

function packetsOf(events: readonly PcapngEvent[]): PcapngPacketEvent[] {
  return events.filter((e): e is PcapngPacketEvent => e.type === 'packet');
}

function expectNonDecreasing(packets: readonly PcapngPacketEvent[]): void {
  for (let i = 1; i < packets.length; i++) {
    const prev = packets[i - 1]?.timestampNs ?? 0n;
    const cur = packets[i]?.timestampNs ?? 0n;
    if (cur < prev) throw new Error(`packet ${i} (${cur}) is earlier than packet ${i - 1} (${prev})`);
  }
}

/** 60 ms before the high 32-bit word of the ns timestamp rolls over, so ordering must compare both words. */
const NEAR_ROLLOVER = (((T0 >> 32n) + 1n) << 32n) - 60_000_000n;

/** Deterministic jittered timestamps: `count` packets, sorted, about `stepNs` apart. */
function jittered(count: number, seed: number, stepNs: bigint, tag: string) {
  let x = seed;
  let t = NEAR_ROLLOVER + BigInt(seed);
  return udpPackets(count, { tag }).map((p) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    t += stepNs / 2n + BigInt(x % Number(stepNs));
    return { ...p, timestampNs: t };
  });
}

describe('PcapngMerge', () => {
  it('merges inputs in time order, renumbering and labelling their interfaces', async () => {
    const a0 = jittered(40, 1, 1_000_000n, 'a0');
    const a1 = jittered(25, 2, 1_700_000n, 'a1');
    const b0 = jittered(60, 3, 700_000n, 'b0');
    const c0 = jittered(5, 4, 9_000_000n, 'c0');
    const inputA = agentStream([
      { description: eth('eth0', 'app/0'), packets: a0, stats: { ifRecv: 40, ifDrop: 1, osDrop: 2 } },
      { description: eth('lo'), packets: a1, stats: { ifRecv: 25, ifDrop: 0, osDrop: 0 } },
    ]);
    const inputB = agentStream(
      [{ description: eth('eth0', 'app/1'), packets: b0, stats: { ifRecv: 61, ifDrop: 1, osDrop: 0 } }],
      {
        batchSize: 7,
      },
    );
    const inputC = agentStream([{ description: eth('eth0'), packets: c0 }], { batchSize: 1 });
    const merge = new PcapngMerge(
      [
        { source: chunkedReadable(inputA), label: 'instance 0' },
        { source: chunkedReadable(inputB, [13, 2000]), label: 'instance 1' },
        { source: chunkedReadable(inputC, [1]), label: 'instance 2' },
      ],
      { section: { userAppl: 'merge spec' }, idleMs: 10_000 },
    );
    const events = parseAll(await collect(merge));

    expect(events.filter((e) => e.type === 'section')).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'section', userAppl: 'merge spec' });
    const interfaces = events.filter((e) => e.type === 'interface');
    expect(interfaces.map((i) => [i.interfaceId, i.name, i.description])).toEqual([
      [0, 'instance 0/eth0', 'app/0'],
      [1, 'instance 0/lo', 'instance 0'],
      [2, 'instance 1/eth0', 'app/1'],
      [3, 'instance 2/eth0', 'instance 2'],
    ]);
    const packets = packetsOf(events);
    expect(packets).toHaveLength(40 + 25 + 60 + 5);
    expectNonDecreasing(packets);
    // each packet kept its bytes and landed on the interface of its origin
    const byInterface = new Map<number, bigint[]>();
    for (const p of packets)
      byInterface.set(p.interfaceId, [...(byInterface.get(p.interfaceId) ?? []), p.timestampNs]);
    expect(byInterface.get(0)).toEqual(a0.map((p) => p.timestampNs));
    expect(byInterface.get(1)).toEqual(a1.map((p) => p.timestampNs));
    expect(byInterface.get(2)).toEqual(b0.map((p) => p.timestampNs));
    expect(byInterface.get(3)).toEqual(c0.map((p) => p.timestampNs));
    expect(packets.filter((p) => p.interfaceId === 2).map((p) => p.data)).toEqual(b0.map((p) => p.frame));
    expect(merge.stats).toMatchObject({ packets: 130, latePackets: 0, interfaces: 4, failedInputs: 0 });

    const stats = events.filter((e) => e.type === 'statistics');
    expect(stats.map((s) => [s.interfaceId, s.ifRecv, s.ifDrop, s.osDrop])).toEqual(
      expect.arrayContaining([
        [0, 40n, 1n, 2n],
        [1, 25n, 0n, 0n],
        [2, 61n, 1n, 0n],
      ]),
    );
    // an input's statistics come after all of that input's packets
    const lastB = events.findLastIndex((e) => e.type === 'packet' && e.interfaceId === 2);
    expect(events.findIndex((e) => e.type === 'statistics' && e.interfaceId === 2)).toBeGreaterThan(lastB);
  });

  it('orders across a rollover of the high 32-bit timestamp word', async () => {
    const rollover = NEAR_ROLLOVER + 60_000_000n;
    const after = udpPackets(5, { startNs: rollover + 1_000_000n, stepNs: 1000n });
    const before = udpPackets(5, { startNs: rollover - 10_000_000n, stepNs: 1000n });
    const merge = new PcapngMerge([
      { source: chunkedReadable(agentStream([{ description: eth('eth0'), packets: after }])) },
      { source: chunkedReadable(agentStream([{ description: eth('eth0'), packets: before }])) },
    ]);
    const packets = packetsOf(parseAll(await collect(merge)));
    expect(packets.map((p) => p.interfaceId)).toEqual([1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
  });

  it('writes a bare section header and ends when there are no inputs', async () => {
    const events = parseAll(await collect(new PcapngMerge([], { section: { userAppl: 'empty' } })));
    expect(events).toEqual([expect.objectContaining({ type: 'section', userAppl: 'empty' })]);
  });

  it('passes control messages through unchanged', async () => {
    const msg: ControlMessage = {
      type: 'CONGESTED',
      origin: 'agent cell-7',
      message: '12 packets discarded',
      timestampNs: T0 + 99n,
      fields: { discardedPackets: 12 },
    };
    const merge = new PcapngMerge(
      [
        {
          source: chunkedReadable(
            agentStream([{ description: eth('eth0'), packets: jittered(5, 5, 1000n, 'x') }], {
              messages: [msg],
            }),
          ),
        },
        {
          source: chunkedReadable(
            agentStream([{ description: eth('eth0'), packets: jittered(5, 6, 1000n, 'y') }]),
          ),
        },
      ],
      { interfaceNames: 'keep' },
    );
    const events = parseAll(await collect(merge));
    expect(events.filter((e) => e.type === 'message').map((e) => e.message)).toEqual([msg]);
    expect(events.filter((e) => e.type === 'interface').map((e) => e.name)).toEqual(['eth0', 'eth0']);
  });

  it('does not wait forever for an idle input and counts its late packets', async () => {
    const live = new PassThrough();
    const early = jittered(20, 7, 1_000_000n, 'early');
    const merge = new PcapngMerge(
      [
        {
          source: chunkedReadable(
            agentStream([{ description: eth('eth0'), packets: jittered(30, 8, 1_000_000n, 'a') }]),
          ),
          label: 'busy',
        },
        { source: live, label: 'idle' },
      ],
      { idleMs: 40 },
    );
    const chunks: Buffer[] = [];
    merge.on('data', (c: Buffer) => chunks.push(c));
    const done = new Promise((resolve) => merge.on('end', resolve));
    await delay(200);
    // the idle input has sent nothing: every packet of the busy one is out already
    expect(packetsOf(parseAll(Buffer.concat(chunks)))).toHaveLength(30);
    live.end(agentStream([{ description: eth('eth0'), packets: early }]));
    await done;
    const packets = packetsOf(parseAll(Buffer.concat(chunks)));
    expect(packets).toHaveLength(50);
    expect(merge.stats.latePackets).toBeGreaterThan(0);
    expect(merge.stats.latePackets).toBeLessThanOrEqual(20);
    // the late input's packets are still in order among themselves
    expectNonDecreasing(packets.filter((p) => p.interfaceId === 1));
  });

  it('waits for a live input while it is not idle', async () => {
    const live = new PassThrough();
    const merge = new PcapngMerge(
      [
        {
          source: chunkedReadable(
            agentStream([{ description: eth('eth0'), packets: jittered(10, 9, 1_000_000n, 'a') }]),
          ),
        },
        { source: live },
      ],
      { idleMs: 60_000, windowNs: null },
    );
    const chunks: Buffer[] = [];
    merge.on('data', (c: Buffer) => chunks.push(c));
    const done = new Promise((resolve) => merge.on('end', resolve));
    await delay(100);
    expect(packetsOf(parseAll(Buffer.concat(chunks)))).toHaveLength(0);
    // the live input's packets interleave with the held ones
    live.end(agentStream([{ description: eth('eth1'), packets: jittered(10, 10, 1_000_000n, 'b') }]));
    await done;
    const packets = packetsOf(parseAll(Buffer.concat(chunks)));
    expect(packets).toHaveLength(20);
    expectNonDecreasing(packets);
    expect(merge.stats.latePackets).toBe(0);
  });

  it('releases packets older than the reorder window while an input is silent but not idle', async () => {
    const live = new PassThrough();
    const span = udpPackets(11, { startNs: T0, stepNs: 1_000_000_000n }); // 10 s of packets
    const merge = new PcapngMerge(
      [
        { source: chunkedReadable(agentStream([{ description: eth('eth0'), packets: span }])) },
        { source: live },
      ],
      { idleMs: 60_000, windowNs: 3_000_000_000n },
    );
    const chunks: Buffer[] = [];
    merge.on('data', (c: Buffer) => chunks.push(c));
    await delay(100);
    const out = packetsOf(parseAll(Buffer.concat(chunks)));
    // newest seen = T0 + 10 s; everything at or before T0 + 7 s is out, nothing after
    expect(out.map((p) => p.timestampNs)).toEqual(span.slice(0, 8).map((p) => p.timestampNs));
    expect(merge.stats.forcedPackets).toBe(8);
    live.end();
    await new Promise((resolve) => merge.on('end', resolve));
    expect(packetsOf(parseAll(Buffer.concat(chunks)))).toHaveLength(11);
  });

  it('forces release when an input exceeds its read-ahead bound', async () => {
    const live = new PassThrough();
    const merge = new PcapngMerge(
      [
        {
          source: chunkedReadable(
            agentStream([{ description: eth('eth0'), packets: udpPackets(100) }], { batchSize: 5 }),
          ),
        },
        { source: live },
      ],
      { idleMs: 60_000, windowNs: null, maxBufferedPacketsPerInput: 10 },
    );
    const chunks: Buffer[] = [];
    merge.on('data', (c: Buffer) => chunks.push(c));
    await delay(100);
    const out = packetsOf(parseAll(Buffer.concat(chunks))).length;
    expect(out).toBeGreaterThanOrEqual(90);
    expect(merge.stats.forcedPackets).toBe(out);
    live.end();
    await new Promise((resolve) => merge.on('end', resolve));
  });

  it('turns a failing input into a message and carries on with the others', async () => {
    const good = agentStream([{ description: eth('eth0'), packets: jittered(10, 11, 1000n, 'g') }]);
    const partial = agentStream([{ description: eth('eth0'), packets: jittered(10, 12, 1000n, 'p') }]);
    const failing = new Readable({
      read() {
        this.push(partial.subarray(0, partial.length - 50));
        this.destroy(new Error('connection reset by peer'));
      },
    });
    const refused = new Readable({
      read() {
        this.destroy(new Error('connect ECONNREFUSED 10.0.0.9:9494'));
      },
    });
    const garbage = Readable.from([Buffer.from('HTTP/1.1 502 Bad Gateway\r\n\r\n')]);
    const merge = new PcapngMerge(
      [
        { source: chunkedReadable(good), label: 'good' },
        { source: failing, label: 'flaky' },
        { source: refused, label: 'down' },
        { source: garbage, label: 'proxy' },
      ],
      { idleMs: 20, origin: 'api' },
    );
    const events = parseAll(await collect(merge));
    const messages = events.filter((e) => e.type === 'message').map((e) => e.message);
    expect(messages.map((m) => [m.type, m.origin, m.fields?.['input']])).toEqual(
      expect.arrayContaining([
        ['CONNECTION_ERROR', 'api', 'flaky'],
        ['INSTANCE_UNAVAILABLE', 'api', 'down'],
        ['CONNECTION_ERROR', 'api', 'proxy'],
      ]),
    );
    expect(messages).toHaveLength(3);
    expect(messages.find((m) => m.fields?.['input'] === 'down')?.message).toBe(
      'down: connect ECONNREFUSED 10.0.0.9:9494',
    );
    expect(messages.find((m) => m.fields?.['input'] === 'proxy')?.message).toMatch(
      /does not start with a pcapng/,
    );
    const packets = packetsOf(events);
    expect(packets.filter((p) => p.interfaceId === 0)).toHaveLength(10);
    expect(packets.filter((p) => p.interfaceId === 1).length).toBeGreaterThan(0); // what arrived before the reset
    expect(merge.stats.failedInputs).toBe(3);
  });

  it('reads its inputs only as fast as its consumer reads the output', async () => {
    let produced = 0;
    const writer = agentStream([{ description: eth('eth0'), packets: [] }]);
    const batchBytes = agentStream([{ description: eth('eth0'), packets: udpPackets(50) }]).subarray(
      writer.length,
    );
    let sent = false;
    let t = 0n;
    const endless = new Readable({
      read() {
        if (!sent) {
          sent = true;
          this.push(writer);
          return;
        }
        // same packets, shifted forward in time so the stream stays ordered
        const chunk = Buffer.from(batchBytes);
        for (let off = 0; off < chunk.length; off += chunk.readUInt32LE(off + 4)) {
          const ts =
            ((BigInt(chunk.readUInt32LE(off + 12)) << 32n) | BigInt(chunk.readUInt32LE(off + 16))) + t;
          chunk.writeUInt32LE(Number(ts >> 32n), off + 12);
          chunk.writeUInt32LE(Number(ts & 0xffffffffn), off + 16);
        }
        t += 1_000_000_000n;
        produced += chunk.length;
        this.push(chunk);
      },
    });
    const merge = new PcapngMerge([{ source: endless }], {
      maxBufferedBytesPerInput: 64 * 1024,
      chunkBytes: 16 * 1024,
    });
    merge.read(0);
    await delay(150);
    const bound = produced;
    expect(bound).toBeGreaterThan(0);
    expect(bound).toBeLessThan(1024 * 1024);
    await delay(150);
    expect(produced).toBe(bound); // nothing more read while nobody consumes
    let consumed = 0;
    for await (const chunk of merge) {
      consumed += (chunk as Buffer).length;
      if (consumed > 4 * 1024 * 1024) break;
    }
    expect(produced).toBeGreaterThan(4 * 1024 * 1024);
    expect(endless.destroyed).toBe(true); // breaking out destroyed the merge, which destroyed its input
  });
});
