/**
 * One upload of bench/sinks, in its own process so its memory is measured alone: a synthetic capture of `mb`
 * megabytes generated while it streams (nothing held) is written into the real S3 sink (`@pcap/sinks`, the code the
 * API runs for a capture with `sink: <name>`), honouring backpressure. Prints one JSON line: bytes, times, and the
 * memory breakdown.
 *
 * Baseline: taken after the AWS SDK is loaded and has made one request (the sink's own check(): HeadBucket), so
 * the SDK's module and first-request cost (≈ 25–40 MiB of RSS, the same in the API once it has used S3) is baseline,
 * not upload. Sampled every 50 ms: RSS (/proc/self/status VmRSS) and process.memoryUsage() (heapUsed, external,
 * arrayBuffers). Needs node --expose-gc: one full GC before the baseline; `live: true` also runs one before every
 * sample, so the figures are then what is reachable (what the upload really holds), not what V8 has not collected.
 */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { GcPacer } from '@pcap/capture';
import { S3SinkFactory, s3SinkConfigSchema } from '@pcap/sinks';

import { syntheticPacketBytes, syntheticPcapngChunks } from '../../test/support/synthetic-pcapng';

function vmRss(): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** One sample of the memory figures the bench reports. */
interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

function sample(): Memory {
  const m = process.memoryUsage();
  // external includes arrayBuffers (Buffers' memory); the rest of it is small (native objects of Node and V8).
  return { rss: vmRss(), heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as {
    sink: Record<string, unknown>;
    mb: number;
    live?: boolean;
    gcPacingBytes?: number;
  };
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run node with --expose-gc (one GC before the baseline)');
  const collect = options.live === true ? gc : undefined;
  const config = { ...s3SinkConfigSchema.parse(options.sink), name: 'bench' };
  const payload = 1200;
  const packets = Math.ceil((options.mb * 1024 * 1024) / syntheticPacketBytes(payload));
  const factory = new S3SinkFactory();

  const beforeSdk = sample();
  // Loads @aws-sdk/client-s3 and makes one request; @aws-sdk/lib-storage is loaded by the first upload, here.
  await factory.check(config);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('@aws-sdk/lib-storage');
  gc();
  const baseline = sample();
  const peak: Memory = { ...baseline };
  let atPeakRss: Memory = baseline;
  const take = (): void => {
    collect?.();
    const s = sample();
    if (s.rss > peak.rss) atPeakRss = s;
    peak.rss = Math.max(peak.rss, s.rss);
    peak.heapUsed = Math.max(peak.heapUsed, s.heapUsed);
    peak.external = Math.max(peak.external, s.external);
    peak.arrayBuffers = Math.max(peak.arrayBuffers, s.arrayBuffers);
  };
  const sampler = setInterval(take, 50);
  const handle = await factory.open(
    {
      id: `b0000000-0000-4000-8000-${String(Date.now()).padStart(12, '0').slice(-12)}`,
      org: 'bench',
      space: 'bench',
      app: 'bench-app',
      appGuid: '1cb006ee-0000-4000-8000-0000000be4c1',
      instances: [0],
      filter: '',
      requestedBy: 'bench',
      startedAt: new Date(),
    },
    config,
  );
  const started = process.hrtime.bigint();
  let written = 0;
  const pacer = new GcPacer(options.gcPacingBytes ?? 0);
  function* counted(): Generator<Buffer> {
    for (const chunk of syntheticPcapngChunks({ packets, payloadBytes: payload, chunkBytes: 256 * 1024 })) {
      written += chunk.length;
      pacer.account(chunk.length);
      yield chunk;
    }
  }
  // One chunk ahead, as a capture's merge is: Readable.from's default (16 objects) would add 4 MiB of the bench's own.
  await pipeline(Readable.from(counted(), { highWaterMark: 1 }), handle.input);
  await handle.finished();
  const finishedNs = process.hrtime.bigint() - started;
  clearInterval(sampler);
  take();
  console.log(
    JSON.stringify({
      bytes: written,
      packets,
      objects: handle.objects.length,
      finishedMs: Number(finishedNs / 1_000_000n),
      live: options.live === true,
      beforeSdk,
      baseline,
      peak,
      atPeakRss,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
