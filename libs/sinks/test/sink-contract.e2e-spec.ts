/**
 * The shared sink contract, run against every sink kind through the registry (S3 against a real s3rver on
 * loopback, the client stream with a real reader, the Prometheus metrics sink on a real prom-client registry):
 *
 * 1. what was written arrives complete and in order (metrics: every packet and byte counted exactly);
 * 2. `finished()` rejects when the destination fails;
 * 3. writes apply backpressure: a blocking sink makes `write()` return false while its destination is behind and
 *    the writer never holds more than a high watermark; a lossy sink never blocks and keeps its memory bounded by
 *    discarding (counted);
 * 4. a failing sink never corrupts another sink of the same capture (SinkFanOut).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';

import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { readPcapng } from '@pcap/capture';
import {
  CaptureMetrics,
  type CaptureRef,
  ClientStreamSinkFactory,
  type ClientStreamSinkConfig,
  ClientStreamSinkHandle,
  createS3Client,
  MetricsSinkFactory,
  MetricsSinkHandle,
  S3SinkFactory,
  S3SinkHandle,
  s3SinkConfigSchema,
  SINK_FACTORIES,
  SinkFailedError,
  SinkFanOut,
  type SinkConfig,
  type SinkHandle,
  SinkRegistry,
  UnknownSinkKindError,
} from '@pcap/sinks';
import { Test } from '@nestjs/testing';
import { Registry } from 'prom-client';

import { S3TestServer } from '../../../test/support/s3-server';
import { syntheticPacketBytes, syntheticPcapngChunks } from '../../../test/support/synthetic-pcapng';

const MiB = 1024 * 1024;
let s3: S3TestServer;
let s3Client: S3Client;
let registry: SinkRegistry;
let sequence = 0;

function captureRef(): CaptureRef {
  sequence++;
  return {
    id: `c0000000-0000-4000-8000-${String(sequence).padStart(12, '0')}`,
    org: 'acme',
    space: 'dev',
    app: 'contract-app',
    appGuid: '1cb006ee-0000-4000-8000-00000000c001',
    instances: [0],
    filter: '',
    requestedBy: 'dev',
    startedAt: new Date(),
  };
}

function clientConfig(overrides: Partial<ClientStreamSinkConfig> = {}): ClientStreamSinkConfig {
  return {
    kind: 'client-stream',
    name: 'client',
    format: 'pcapng',
    highWatermark: 2 * MiB,
    lowWatermark: 1 * MiB,
    snaplen: 65535,
    notices: [],
    onMessage: () => undefined,
    ...overrides,
  };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function storedBytes(handle: S3SinkHandle): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const o of handle.objects) {
    const res = await s3Client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: o.key }));
    parts.push(Buffer.from(await res.Body!.transformToByteArray()));
  }
  return Buffer.concat(parts);
}

async function packetSequence(data: Buffer): Promise<number[]> {
  const seq: number[] = [];
  for await (const e of readPcapng(Readable.from([data]), { packets: 'each' })) {
    if (e.type === 'packet') seq.push(e.data.readUInt32BE(42));
  }
  return seq;
}

/** How the contract drives one sink kind. */
interface Subject {
  readonly kind: string;
  readonly policy: 'blocking' | 'lossy';
  config(): SinkConfig;
  /** Starts whatever consumes the destination (a reader for the client stream); resolves with what arrived. */
  consume(handle: SinkHandle): Promise<Buffer | undefined>;
  /** Checks that `input` (with `packets` packets) arrived complete and in order. */
  verify(handle: SinkHandle, input: Buffer, packets: number, arrived: Buffer | undefined): Promise<void>;
  /** Makes the destination fail while the capture runs. */
  breakDestination(handle: SinkHandle): Promise<void>;
  /** Makes the destination slow or stop consuming; returns how to undo it. */
  stall(handle: SinkHandle): () => void;
}

let metrics: CaptureMetrics;
let promRegistry: Registry;

const subjects: Subject[] = [
  {
    kind: 's3',
    policy: 'blocking',
    config: () => ({
      ...s3SinkConfigSchema.parse(
        s3.sinkConfig({ retry: { max_attempts: 2, abort_attempts: 10, abort_backoff_ms: 200 } }),
      ),
      name: 'archive',
    }),
    consume: () => Promise.resolve(undefined),
    async verify(handle, input) {
      expect(handle).toBeInstanceOf(S3SinkHandle);
      expect((await storedBytes(handle as S3SinkHandle)).equals(input)).toBe(true);
    },
    async breakDestination() {
      // Gone for 1.5 s: the next part upload fails (2 attempts); the abort retries until the server is back.
      await s3.stop();
      restarting = sleep(1500).then(() => s3.restart());
    },
    stall() {
      s3.delayMs = 150;
      return () => {
        s3.delayMs = 0;
      };
    },
  },
  {
    kind: 'client-stream',
    policy: 'lossy',
    // A reader that keeps up loses nothing: the watermark only bounds what a slow one may hold up.
    config: () => clientConfig({ highWatermark: 64 * MiB, lowWatermark: 32 * MiB }),
    consume: (handle) => readAll((handle as ClientStreamSinkHandle).output),
    verify(_handle, input, _packets, arrived) {
      expect(arrived?.equals(input)).toBe(true);
      return Promise.resolve();
    },
    breakDestination(handle) {
      // The client goes away.
      (handle as ClientStreamSinkHandle).output.destroy();
      return Promise.resolve();
    },
    // Not reading is the stall: the reader starts once the writer is done.
    stall: () => () => undefined,
  },
  {
    kind: 'metrics',
    policy: 'lossy',
    config: () => ({ kind: 'metrics', name: 'prometheus', metrics }) as SinkConfig,
    consume: () => Promise.resolve(undefined),
    async verify(handle, input, packets) {
      const totals = (handle as MetricsSinkHandle).totals;
      expect(totals.packets).toBe(packets);
      // Captured bytes = every EPB's captured length: the frame size of the synthetic packets.
      expect(totals.bytes).toBe(packets * 246);
      expect(totals.kernelDrops).toBe(6n);
      const text = await promRegistry.getSingleMetricAsString('pcap_test_packets_total');
      expect(text).toContain(`pcap_test_packets_total ${packetsCounted}`);
      expect(input.length).toBeGreaterThan(0);
    },
    breakDestination(handle) {
      // Its destination is the accounting itself: bytes that are not pcapng break it.
      handle.input.write(Buffer.alloc(64, 0xee));
      return Promise.resolve();
    },
    stall: () => () => undefined,
  },
];
let packetsCounted = 0;
let restarting: Promise<void> = Promise.resolve();

afterEach(async () => {
  await restarting;
});

beforeAll(async () => {
  s3 = await S3TestServer.start();
  s3Client = createS3Client({ ...s3SinkConfigSchema.parse(s3.sinkConfig()), name: 'reader' });
  promRegistry = new Registry();
  metrics = new CaptureMetrics({ registry: promRegistry, prefix: 'pcap_test', appLabels: false });
  const moduleRef = await Test.createTestingModule({
    providers: [
      SinkRegistry,
      {
        provide: SINK_FACTORIES,
        useValue: [new S3SinkFactory(), new ClientStreamSinkFactory(), new MetricsSinkFactory()],
      },
    ],
  }).compile();
  registry = moduleRef.get(SinkRegistry);
});

afterAll(async () => {
  s3Client?.destroy();
  await s3?.destroy();
});

it('the registry resolves every kind by name and refuses an unknown kind with a typed error', async () => {
  expect([...registry.kinds].sort()).toEqual(['client-stream', 'metrics', 's3']);
  expect(() => registry.factory('ftp')).toThrow(UnknownSinkKindError);
  await expect(async () => registry.open(captureRef(), { kind: 'ftp', name: 'x' })).rejects.toThrow(
    "unknown sink kind 'ftp'",
  );
});

describe.each(subjects.map((s) => [s.kind, s] as const))('sink contract: %s', (_kind, subject) => {
  it('delivers the bytes complete and in order', async () => {
    const packets = 30_000; // ~8.4 MB: more than one S3 part
    const input = Buffer.concat([
      ...syntheticPcapngChunks({ packets, interfaces: 2, kernelDropsPerInterface: 3 }),
    ]);
    const handle = await registry.open(captureRef(), subject.config());
    expect(handle.kind).toBe(subject.kind);
    const arrived = subject.consume(handle);
    // Uneven chunks: block boundaries never line up with writes.
    const chunks: Buffer[] = [];
    for (let off = 0; off < input.length; off += 65_521) chunks.push(input.subarray(off, off + 65_521));
    await pipeline(Readable.from(chunks), handle.input);
    await handle.finished();
    if (subject.kind === 'metrics') packetsCounted += packets;
    await subject.verify(handle, input, packets, await arrived);
  }, 120000);

  it('finished() rejects when the destination fails', async () => {
    const handle = await registry.open(captureRef(), subject.config());
    const arrived = subject.consume(handle).catch(() => undefined);
    // The failure is also an 'error' event on input (as pipeline() would see it).
    handle.input.on('error', () => undefined);
    const chunks = [...syntheticPcapngChunks({ packets: 40_000, chunkBytes: 128 * 1024 })];
    const writer = (async () => {
      for (const [i, c] of chunks.entries()) {
        if (handle.input.destroyed) return;
        if (i === 8) await subject.breakDestination(handle);
        if (!handle.input.write(c)) {
          await Promise.race([
            new Promise((r) => handle.input.once('drain', r)),
            new Promise((r) => handle.input.once('close', r)),
          ]);
        }
      }
      handle.input.end();
    })();
    await expect(handle.finished()).rejects.toBeInstanceOf(SinkFailedError);
    await writer;
    await arrived;
    if (subject.kind === 's3') {
      await restarting;
      expect(s3.pendingUploads()).toEqual([]);
      const listed = await s3Client.send(
        new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'acme/dev/contract-app/' }),
      );
      const keys = (listed.Contents ?? []).map((o) => o.Key);
      expect(
        keys.every((k) => !k!.includes(`/c0000000-0000-4000-8000-${String(sequence).padStart(12, '0')}/`)),
      ).toBe(true);
    }
  }, 120000);

  it('applies backpressure while the destination is behind', async () => {
    const handle = await registry.open(
      captureRef(),
      subject.kind === 'client-stream' ? clientConfig() : subject.config(),
    );
    const undo = subject.stall(handle);
    const chunks = [...syntheticPcapngChunks({ packets: 60_000, chunkBytes: 64 * 1024 })];
    let refused = 0;
    let maxBuffered = 0;
    const started = Date.now();
    for (const c of chunks) {
      const ok = handle.input.write(c);
      maxBuffered = Math.max(maxBuffered, handle.input.writableLength);
      if (!ok) {
        refused++;
        await new Promise((r) => handle.input.once('drain', r));
      }
    }
    const writeMs = Date.now() - started;
    if (subject.policy === 'lossy' && subject.kind === 'client-stream') {
      // Nobody read: the client stream kept at most its high watermark and counted the rest as discarded.
      const client = handle as ClientStreamSinkHandle;
      expect(client.stats.packetsDiscarded).toBeGreaterThan(0);
      // What waits in the output is its 64 KiB buffer plus at most one queued run.
      expect(client.output.readableLength).toBeLessThanOrEqual(128 * 1024);
    }
    undo();
    const arrived = subject.consume(handle);
    handle.input.end();
    await handle.finished();
    const got = await arrived;
    // The writer never held more than the input's high watermark plus one chunk.
    expect(maxBuffered).toBeLessThanOrEqual(handle.input.writableHighWaterMark + 64 * 1024);
    if (subject.policy === 'blocking') {
      expect(refused).toBeGreaterThan(0);
      // 60k packets ≈ 16.8 MB through 150 ms per request: the writer was held back, not buffered.
      expect(writeMs).toBeGreaterThan(300);
    } else {
      expect(refused).toBeLessThanOrEqual(chunks.length);
    }
    if (subject.kind === 'client-stream') {
      const client = handle as ClientStreamSinkHandle;
      const seq = await packetSequence(got!);
      expect(seq.length + client.stats.packetsDiscarded).toBe(60_000);
      const backwards = seq.findIndex((v, i) => i > 0 && v <= seq[i - 1]!);
      expect(backwards === -1 ? [] : seq.slice(Math.max(0, backwards - 3), backwards + 3)).toEqual([]);
    }
  }, 120000);

  it('a failing sink never corrupts another sink of the same capture', async () => {
    const packets = 30_000;
    const input = Buffer.concat([...syntheticPcapngChunks({ packets })]);
    const failing = await registry.open(captureRef(), subject.config());
    const partner =
      subject.kind === 'client-stream'
        ? await registry.open(captureRef(), {
            ...s3SinkConfigSchema.parse(s3.sinkConfig()),
            name: 'partner',
          })
        : await registry.open(
            captureRef(),
            clientConfig({ name: 'partner', highWatermark: 64 * MiB, lowWatermark: MiB }),
          );
    const failingArrived = subject.consume(failing).catch(() => undefined);
    const partnerArrived =
      partner instanceof ClientStreamSinkHandle ? readAll(partner.output) : Promise.resolve(undefined);
    const failures: string[] = [];
    const fanOut = new SinkFanOut([failing, partner], { onSinkFailed: (h) => failures.push(h.name) });
    const chunks: Buffer[] = [];
    for (let off = 0; off < input.length; off += 100_000) chunks.push(input.subarray(off, off + 100_000));
    async function* source(): AsyncGenerator<Buffer> {
      for (const [i, c] of chunks.entries()) {
        if (i === 10) await subject.breakDestination(failing);
        yield c;
        if (i % 10 === 0) await sleep(1);
      }
    }
    await pipeline(Readable.from(source()), fanOut);
    await expect(failing.finished()).rejects.toBeInstanceOf(SinkFailedError);
    await partner.finished();
    await failingArrived;
    expect(failures).toEqual([failing.name]);
    const got = partner instanceof S3SinkHandle ? await storedBytes(partner) : await partnerArrived;
    expect(got?.equals(input)).toBe(true);
  }, 120000);
});

it('a synthetic packet is the size the metrics subject expects', () => {
  expect(syntheticPacketBytes()).toBe(32 + 248);
});
