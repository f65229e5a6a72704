/**
 * The S3 sink against a real S3-protocol server (s3rver on 127.0.0.1, temp dir): multipart upload of a capture of
 * several parts, rotation into complete pcapng objects (size, time, ring), metadata, tshark on what was stored, and a
 * server that goes away mid-upload (multipart aborted, sink failed, nothing that looks complete).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';

import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import {
  type CaptureRef,
  createS3Client,
  decodeMetadata,
  type S3SinkConfig,
  S3SinkFactory,
  s3SinkConfigSchema,
  SinkFailedError,
} from '@pcap/sinks';

import { S3TestServer } from '../../../test/support/s3-server';
import {
  syntheticPacketBytes,
  syntheticPcapng,
  syntheticPcapngChunks,
} from '../../../test/support/synthetic-pcapng';
import { tsharkFields } from '../../../test/support/tcpdump';

const MiB = 1024 * 1024;

function captureRef(id: string): CaptureRef {
  return {
    id,
    org: 'acme',
    space: 'dev space',
    app: 'web-app',
    appGuid: '1cb006ee-0000-4000-8000-00000000c001',
    instances: [0, 1],
    filter: 'udp and port 53',
    requestedBy: 'dev',
    startedAt: new Date('2026-11-27T03:00:00Z'),
  };
}

describe('S3 sink against s3rver', () => {
  let s3: S3TestServer;
  let client: S3Client;
  let dir: string;
  const factory = new S3SinkFactory();

  const config = (overrides: Record<string, unknown> = {}): S3SinkConfig => ({
    ...s3SinkConfigSchema.parse(s3.sinkConfig(overrides)),
    name: 'archive',
  });

  async function body(key: string): Promise<Buffer> {
    const res = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
    return Buffer.from(await res.Body!.transformToByteArray());
  }

  async function keys(prefix: string): Promise<string[]> {
    const res = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
    return (res.Contents ?? []).map((o) => o.Key!).sort();
  }

  /** Writes the stored object to a file and returns tshark's packet sequence numbers (UDP payload). */
  function sequenceOf(data: Buffer, name: string): number[] {
    const file = join(dir, name);
    writeFileSync(file, data);
    return tsharkFields(file, ['udp.dstport', 'frame.interface_id']).map((r) => Number(r[0]) - 10000);
  }

  beforeAll(async () => {
    s3 = await S3TestServer.start();
    client = createS3Client(config());
    dir = mkdtempSync(join(tmpdir(), 's3-sink-'));
  });

  afterAll(async () => {
    client?.destroy();
    await s3?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('streams a capture of several 5 MiB parts as one multipart object, byte for byte, with metadata', async () => {
    const packets = 90_000; // ~25 MB: five parts
    const input = Buffer.concat([...syntheticPcapngChunks({ packets, kernelDropsPerInterface: 7 })]);
    const handle = await factory.open(captureRef('c0000000-0000-4000-8000-000000000001'), config());
    await pipeline(Readable.from([input.subarray(0, 1000), input.subarray(1000)]), handle.input);
    await handle.finished();

    expect(handle.objects).toHaveLength(1);
    const key = handle.objects[0]!.key;
    expect(key).toBe('acme/dev%20space/web-app/c0000000-0000-4000-8000-000000000001/000001.pcapng');
    const stored = await body(key);
    expect(stored.length).toBe(input.length);
    expect(createHash('sha256').update(stored).digest('hex')).toBe(
      createHash('sha256').update(input).digest('hex'),
    );
    const uploads = [...s3.partsUploaded.entries()];
    expect(uploads).toHaveLength(1);
    expect(uploads[0]![1]).toBe(Math.ceil(input.length / (5 * MiB)));
    expect(s3.completed).toEqual([uploads[0]![0]]);

    const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }));
    expect(head.ContentType).toBe('application/x-pcapng');
    const meta = decodeMetadata(head.Metadata);
    expect(meta).toMatchObject({
      'capture-id': 'c0000000-0000-4000-8000-000000000001',
      org: 'acme',
      space: 'dev space',
      app: 'web-app',
      'app-guid': '1cb006ee-0000-4000-8000-00000000c001',
      instances: '0,1',
      filter: 'udp and port 53',
      'requested-by': 'dev',
      'capture-start': '2026-11-27T03:00:00.000Z',
      packets: String(packets),
      bytes: String(input.length),
      'kernel-drops': '14',
      discarded: '0',
      complete: 'true',
    });
    expect(Date.parse(meta.end!)).toBeGreaterThanOrEqual(Date.parse(meta.start!));

    const seq = sequenceOf(stored, 'multipart.pcapng');
    expect(seq).toHaveLength(packets);
    expect(seq.every((s, i) => s === i % 50000)).toBe(true);
  }, 120000);

  it('rotates by size into complete pcapng objects: each has the section header and both interfaces', async () => {
    const packets = 60_000;
    const handle = await factory.open(
      captureRef('c0000000-0000-4000-8000-000000000002'),
      config({ rotation: { max_bytes: 6 * MiB } }),
    );
    await pipeline(syntheticPcapng({ packets }), handle.input);
    await handle.finished();

    const total = packets * syntheticPacketBytes();
    expect(handle.objects.length).toBe(Math.ceil(total / (6 * MiB - 1024)));
    const prefix = 'acme/dev%20space/web-app/c0000000-0000-4000-8000-000000000002/';
    expect(await keys(prefix)).toEqual(handle.objects.map((o) => o.key));
    let next = 0;
    for (const [i, object] of handle.objects.entries()) {
      const data = await body(object.key);
      expect(data.length).toBe(object.bytes);
      expect(data.length).toBeLessThanOrEqual(6 * MiB);
      const rows = tsharkFields(
        (writeFileSync(join(dir, `rot-${i}.pcapng`), data), join(dir, `rot-${i}.pcapng`)),
        ['udp.dstport', 'frame.interface_id', 'frame.interface_description'],
      );
      expect(new Set(rows.map((r) => r[1]))).toEqual(new Set(['0', '1']));
      expect(rows.every((r) => r[2]!.startsWith('synthetic index='))).toBe(true);
      for (const r of rows) expect(Number(r[0]) - 10000).toBe(next++ % 50000);
      const meta = decodeMetadata(
        (await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: object.key }))).Metadata,
      );
      expect(meta.part).toBe(String(i + 1));
      expect(meta.packets).toBe(String(rows.length));
    }
    expect(next).toBe(packets);
  }, 120000);

  it('rotates by time, and a ring keeps only the newest objects', async () => {
    const handle = await factory.open(
      captureRef('c0000000-0000-4000-8000-000000000003'),
      config({ rotation: { max_seconds: 1, ring: 2 } }),
    );
    const chunks = [...syntheticPcapngChunks({ packets: 4000, chunkBytes: 100_000 })];
    async function* slowly(): AsyncGenerator<Buffer> {
      for (const c of chunks) {
        yield c;
        await sleep(300);
      }
    }
    await pipeline(Readable.from(slowly()), handle.input);
    await handle.finished();
    const prefix = 'acme/dev%20space/web-app/c0000000-0000-4000-8000-000000000003/';
    const left = await keys(prefix);
    expect(left).toHaveLength(2);
    expect(left).toEqual(handle.objects.map((o) => o.key));
    const parts = left.map((k) => Number(/(\d+)\.pcapng$/.exec(k)![1]));
    expect(parts[0]).toBeGreaterThanOrEqual(2);
    expect(parts[1]).toBe(parts[0]! + 1);
    // The last object holds the end of the capture and is valid on its own.
    const seq = sequenceOf(await body(left[1]!), 'ring-last.pcapng');
    expect(seq[seq.length - 1]).toBe(3999);
  }, 120000);

  it('server gone mid-upload: the sink fails with the reason, the multipart upload is aborted, nothing looks complete', async () => {
    const id = 'c0000000-0000-4000-8000-000000000004';
    const handle = await factory.open(
      captureRef(id),
      config({ retry: { max_attempts: 2, abort_attempts: 8, abort_backoff_ms: 300 } }),
    );
    const abortedBefore = s3.aborted.length;
    async function* throttled(): AsyncGenerator<Buffer> {
      for (const c of syntheticPcapngChunks({ packets: 200_000, chunkBytes: 256 * 1024 })) {
        yield c;
        await sleep(5);
      }
    }
    const writing = pipeline(Readable.from(throttled()), handle.input);
    writing.catch(() => undefined);
    // Wait until a part is staged on the server, then take the server away.
    const prefix = `acme/dev%20space/web-app/${id}/`;
    for (let i = 0; i < 500 && s3.pendingUploads(prefix).length === 0; i++) await sleep(20);
    expect(s3.pendingUploads(prefix)).toHaveLength(1);
    await s3.stop();
    const failed = handle.finished().then(
      () => undefined,
      (err: unknown) => err,
    );
    await sleep(1500);
    await s3.restart();
    const err = await failed;
    expect(err).toBeInstanceOf(SinkFailedError);
    expect((err as Error).message).toMatch(/S3 sink 'archive' failed/);
    await expect(writing).rejects.toBeDefined();
    expect(s3.aborted.length).toBe(abortedBefore + 1);
    expect(s3.pendingUploads(prefix)).toEqual([]);
    expect(await keys(prefix)).toEqual([]);
  }, 120000);

  it('a create whose answer was lost and that the SDK retried leaves no stray upload behind', async () => {
    const id = 'c0000000-0000-4000-8000-000000000007';
    const abortedBefore = s3.aborted.length;
    s3.loseCreateAnswers = 1; // the first upload is created, its answer never arrives; the retry makes a second
    const handle = await factory.open(captureRef(id), config());
    const packets = 30_000; // ~8 MB: a multipart upload
    await pipeline(syntheticPcapng({ packets }), handle.input);
    await handle.finished();
    expect(s3.loseCreateAnswers).toBe(0);
    expect(handle.objects).toHaveLength(1);
    expect(s3.aborted.length).toBe(abortedBefore + 1); // the stray one, found by listing its key
    expect(s3.completed).not.toContain(s3.aborted[s3.aborted.length - 1]);
    expect(s3.pendingUploads(`acme/dev%20space/web-app/${id}/`)).toEqual([]);
    expect(sequenceOf(await body(handle.objects[0]!.key), 'retried-create.pcapng')).toHaveLength(packets);
  }, 120000);

  it('a create that failed after the server made the uploads: the sink finds them by key and aborts them', async () => {
    const id = 'c0000000-0000-4000-8000-000000000008';
    const abortedBefore = s3.aborted.length;
    s3.loseCreateAnswers = 2; // both attempts create an upload whose answer is lost
    const handle = await factory.open(captureRef(id), config({ retry: { max_attempts: 2 } }));
    await expect(pipeline(syntheticPcapng({ packets: 30_000 }), handle.input)).rejects.toBeDefined();
    await expect(handle.finished()).rejects.toBeInstanceOf(SinkFailedError);
    expect(s3.loseCreateAnswers).toBe(0);
    expect(s3.aborted.length).toBe(abortedBefore + 2);
    expect(s3.pendingUploads(`acme/dev%20space/web-app/${id}/`)).toEqual([]);
    expect(await keys(`acme/dev%20space/web-app/${id}/`)).toEqual([]);
  }, 120000);

  it('refuses input that is not pcapng, and aborts when the input is destroyed before its end', async () => {
    const bad = await factory.open(captureRef('c0000000-0000-4000-8000-000000000005'), config());
    await expect(
      pipeline(Readable.from([Buffer.from('definitely not a capture file')]), bad.input),
    ).rejects.toThrow();
    await expect(bad.finished()).rejects.toBeInstanceOf(SinkFailedError);

    const cut = await factory.open(captureRef('c0000000-0000-4000-8000-000000000006'), config());
    const chunks = [...syntheticPcapngChunks({ packets: 40_000 })];
    for (const c of chunks.slice(0, chunks.length - 3)) {
      if (!cut.input.write(c)) await new Promise((r) => cut.input.once('drain', r));
    }
    cut.input.destroy();
    await expect(cut.finished()).rejects.toThrow(/aborted/);
    expect(await keys('acme/dev%20space/web-app/c0000000-0000-4000-8000-00000000000')).toEqual(
      expect.not.arrayContaining([
        expect.stringContaining('000000000005'),
        expect.stringContaining('000000000006'),
      ]),
    );
    expect(s3.pendingUploads('acme/dev%20space/web-app/c0000000-0000-4000-8000-00000000000')).toEqual([]);
  }, 120000);
});
