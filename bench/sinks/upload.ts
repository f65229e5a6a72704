/**
 * One upload of bench/sinks, in its own process so its memory is measured alone: a synthetic capture of `--mb`
 * megabytes generated while it streams (nothing held) is written into the real S3 sink (`@pcap/sinks`, the code the
 * API runs for a capture with `sink: <name>`), honouring backpressure. Prints one JSON line: bytes, times, and
 * VmRSS samples / VmHWM of this process.
 */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { S3SinkFactory, s3SinkConfigSchema } from '@pcap/sinks';

import { syntheticPacketBytes, syntheticPcapngChunks } from '../../test/support/synthetic-pcapng';

function status(field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as { sink: Record<string, unknown>; mb: number };
  const config = { ...s3SinkConfigSchema.parse(options.sink), name: 'bench' };
  const payload = 1200;
  const packets = Math.ceil((options.mb * 1024 * 1024) / syntheticPacketBytes(payload));
  const baselineRss = status('VmRSS');
  let peakRss = baselineRss;
  let peakBuffers = 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, status('VmRSS'));
    peakBuffers = Math.max(peakBuffers, process.memoryUsage().arrayBuffers);
  }, 50);
  const handle = await new S3SinkFactory().open(
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
  function* counted(): Generator<Buffer> {
    for (const chunk of syntheticPcapngChunks({ packets, payloadBytes: payload, chunkBytes: 256 * 1024 })) {
      written += chunk.length;
      yield chunk;
    }
  }
  await pipeline(Readable.from(counted()), handle.input);
  await handle.finished();
  const finishedNs = process.hrtime.bigint() - started;
  clearInterval(sampler);
  peakRss = Math.max(peakRss, status('VmRSS'));
  console.log(
    JSON.stringify({
      bytes: written,
      packets,
      objects: handle.objects.length,
      finishedMs: Number(finishedNs / 1_000_000n),
      baselineRss,
      peakRss,
      vmHwm: status('VmHWM'),
      peakBuffers,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
