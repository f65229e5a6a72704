/**
 * CaptureLimit before SinkFanOut, as the API runs a capture with `max_packets` / `max_bytes`: a merged stream with
 * more packets than the limit (as when agents still deliver packets in flight after the limit) goes through the
 * limit into the client stream, the metrics sink and the S3 sink (real s3rver). Every sink gets exactly the same
 * packets, exactly the limit: tshark counts the stored object and the client's file; the metrics count them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { readPcapng } from '@pcap/capture';
import {
  CaptureLimit,
  CaptureMetrics,
  type CaptureRef,
  ClientStreamSinkHandle,
  createS3Client,
  decodeMetadata,
  MetricsSinkHandle,
  S3SinkFactory,
  s3SinkConfigSchema,
  SinkFanOut,
} from '@pcap/sinks';
import { Registry } from 'prom-client';

import { S3TestServer } from '../../../test/support/s3-server';
import { syntheticPcapngChunks } from '../../../test/support/synthetic-pcapng';
import { tsharkFields } from '../../../test/support/tcpdump';

const PACKETS = 3000;
const FRAME = 46 + 200;

describe('CaptureLimit: every sink sees the same packets, exactly the limit', () => {
  let s3: S3TestServer;
  let client: S3Client;
  let dir: string;
  let sequence = 0;

  beforeAll(async () => {
    s3 = await S3TestServer.start('limit-captures');
    client = createS3Client({ ...s3SinkConfigSchema.parse(s3.sinkConfig()), name: 'reader' });
    dir = mkdtempSync(join(tmpdir(), 'capture-limit-'));
  });

  afterAll(async () => {
    client?.destroy();
    await s3?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function ref(): CaptureRef {
    sequence++;
    return {
      id: `c1000000-0000-4000-8000-${String(sequence).padStart(12, '0')}`,
      org: 'acme',
      space: 'dev',
      app: 'limit-app',
      appGuid: '1cb006ee-0000-4000-8000-00000000c101',
      instances: [0, 1],
      filter: '',
      requestedBy: 'dev',
      startedAt: new Date(),
    };
  }

  async function run(limits: { maxPackets?: number; maxBytes?: number }) {
    const capture = ref();
    const metrics = new CaptureMetrics({ registry: new Registry(), prefix: 'pcap_t', appLabels: false });
    const limitTexts: string[] = [];
    const clientHandle = new ClientStreamSinkHandle({
      kind: 'client-stream',
      name: 'client',
      format: 'pcapng',
      highWatermark: 64 << 20,
      lowWatermark: 32 << 20,
      snaplen: 65535,
      notices: [],
      onMessage: () => undefined,
    });
    const meter = new MetricsSinkHandle(capture, { kind: 'metrics', name: 'prometheus', metrics });
    const storage = await new S3SinkFactory().open(capture, {
      ...s3SinkConfigSchema.parse(s3.sinkConfig()),
      name: 'archive',
    });
    const clientChunks: Buffer[] = [];
    clientHandle.output.on('data', (c: Buffer) => clientChunks.push(c));
    const limit = new CaptureLimit({ ...limits, onLimit: (text) => limitTexts.push(text) });
    const fanOut = new SinkFanOut([clientHandle, meter, storage], {
      onSinkFailed: (_h, err) => {
        throw err;
      },
    });
    // Small chunks: the limit falls inside a run, and packets keep coming after it (in flight from the agents).
    await pipeline(
      Readable.from(
        syntheticPcapngChunks({ packets: PACKETS, chunkBytes: 4096, kernelDropsPerInterface: 1 }),
      ),
      limit,
      fanOut,
    );
    await Promise.all([clientHandle.finished(), meter.finished(), storage.finished()]);
    expect(storage.objects).toHaveLength(1);
    const key = storage.objects[0]!.key;
    const res = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
    const stored = Buffer.from(await res.Body!.transformToByteArray());
    const meta = decodeMetadata(
      (await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }))).Metadata,
    );
    const storedFile = join(dir, `stored-${sequence}.pcapng`);
    const clientFile = join(dir, `client-${sequence}.pcapng`);
    writeFileSync(storedFile, stored);
    writeFileSync(clientFile, Buffer.concat(clientChunks));
    return { stored, storedFile, clientFile, meta, meter, limit, limitTexts, storage };
  }

  async function blocks(data: Buffer): Promise<{ messages: string[]; statistics: number }> {
    const messages: string[] = [];
    let statistics = 0;
    for await (const e of readPcapng(Readable.from([data]))) {
      if (e.type === 'message') messages.push(`${e.message.type}: ${e.message.message}`);
      if (e.type === 'statistics') statistics++;
    }
    return { messages, statistics };
  }

  it('max_packets: the stored object, the client file and the metrics all have exactly max_packets packets, the first ones', async () => {
    const max = 1237;
    const r = await run({ maxPackets: max });
    const storedSeq = tsharkFields(r.storedFile, ['udp.dstport'], 'udp').map((f) => Number(f[0]) - 10000);
    const clientSeq = tsharkFields(r.clientFile, ['udp.dstport'], 'udp').map((f) => Number(f[0]) - 10000);
    expect(storedSeq).toHaveLength(max);
    expect(storedSeq).toEqual([...Array(max).keys()]);
    expect(clientSeq).toEqual(storedSeq);
    expect(r.meter.totals.packets).toBe(max);
    expect(r.meter.totals.bytes).toBe(max * FRAME);
    expect(r.meta.packets).toBe(String(max));
    expect(r.storage.objects[0]!.packets).toBe(max);
    expect(r.limit.stats).toEqual({
      packetsPassed: max,
      bytesPassed: max * FRAME,
      packetsBeyondLimit: PACKETS - max,
    });
    expect(r.limitTexts).toEqual([`packet limit of ${max} reached`]);
    // The limit is announced in-band to every sink, and the agents' final statistics still arrive.
    const stored = await blocks(r.stored);
    expect(stored.messages).toEqual([`LIMIT_REACHED: packet limit of ${max} reached`]);
    expect(stored.statistics).toBe(2);
    expect(r.meter.totals.kernelDrops).toBe(2n);
  }, 60000);

  it('max_bytes: a packet that would cross the limit is not stored, nor any after it', async () => {
    const maxBytes = 500 * FRAME + FRAME - 1;
    const r = await run({ maxBytes });
    expect(tsharkFields(r.storedFile, ['frame.number'], 'udp')).toHaveLength(500);
    expect(tsharkFields(r.clientFile, ['frame.number'], 'udp')).toHaveLength(500);
    expect(r.meter.totals.packets).toBe(500);
    expect(r.limitTexts).toEqual([`byte limit of ${maxBytes} reached`]);
    expect((await blocks(r.stored)).messages).toEqual([`LIMIT_REACHED: byte limit of ${maxBytes} reached`]);
  }, 60000);

  it('without limits: everything passes unchanged', async () => {
    const r = await run({});
    const input = Buffer.concat([
      ...syntheticPcapngChunks({ packets: PACKETS, chunkBytes: 4096, kernelDropsPerInterface: 1 }),
    ]);
    expect(r.stored.equals(input)).toBe(true);
    expect(r.limit.stats.packetsPassed).toBe(PACKETS);
    expect(r.limitTexts).toEqual([]);
  }, 60000);
});
