/**
 * bench/sinks: S3 upload throughput of large captures into a local S3-protocol server (s3rver on 127.0.0.1, temp
 * dir), and the uploader's memory. Each run is a child process (bench/sinks/upload.ts) streaming a synthetic pcapng of
 * the given size through the real S3 sink; this process runs s3rver. Target: the uploader's memory above its
 * baseline (taken after the AWS SDK is loaded) does not grow with the capture's size; what it is made of is in
 * docs/sinks.md (Memory).
 *
 * Usage: node -r ts-node/register/transpile-only -r tsconfig-paths/register bench/sinks/run.ts
 *   [--sizes-mb 256,1024] [--configs 5x2,16x4] [--no-live] [--gc-pacing-bytes N]   (config = part MiB x queue size)
 *
 * The uploader tells a GcPacer of every chunk, as the API does of the bytes it reads from agents (stream.gc_pacing_bytes).
 *
 * Each configuration also runs once "live" (a full GC before every memory sample) at the first size: the difference
 * between the plain and the live row is memory V8 had not collected yet, not memory the upload holds.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

import { S3TestServer } from '../../test/support/s3-server';

const args = process.argv.slice(2);
const argOf = (name: string, fallback: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? (args[i + 1] as string) : fallback;
};
const sizes = argOf('--sizes-mb', '256,1024').split(',').map(Number);
const withLive = !args.includes('--no-live');
/**
 * The uploader's GcPacer budget, standing in for the API's stream.gc_pacing_bytes (default 1 MiB, as in the runs of
 * docs/sinks.md; the API's default is 4 MiB since 2026-11-28; 0 = off).
 */
const gcPacingBytes = Number(argOf('--gc-pacing-bytes', String(1 << 20)));
const configs = argOf('--configs', '5x2,16x4')
  .split(',')
  .map((c) => c.split('x').map(Number) as [number, number]);
const MiB = 1024 * 1024;
const root = join(__dirname, '..', '..');

interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

interface UploadResult {
  bytes: number;
  packets: number;
  objects: number;
  finishedMs: number;
  live: boolean;
  beforeSdk: Memory;
  baseline: Memory;
  peak: Memory;
  atPeakRss: Memory;
}

function upload(sink: Record<string, unknown>, mb: number, live: boolean): Promise<UploadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        // Both modes: one GC before the baseline; live: also before every sample, freeing Buffers' memory within
        // the GC (by default V8 frees it on a background thread afterwards, so a sample would still count it).
        '--expose-gc',
        ...(live ? ['--no-concurrent-array-buffer-sweeping'] : []),
        '-r',
        'ts-node/register/transpile-only',
        '-r',
        'tsconfig-paths/register',
        join(__dirname, 'upload.ts'),
        JSON.stringify({ sink, mb, live, gcPacingBytes }),
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code !== 0 || line === undefined) reject(new Error(`upload exited ${code}: ${err.slice(-2000)}`));
      else resolve(JSON.parse(line) as UploadResult);
    });
  });
}

const mib = (n: number): string => (n / MiB).toFixed(1);

async function main(): Promise<void> {
  const s3 = await S3TestServer.start('bench-captures');
  try {
    console.log(
      'bench/sinks: S3 sink → s3rver on 127.0.0.1 (temp dir); synthetic pcapng of 1,280-byte packets. MiB unless noted.',
    );
    console.log(
      'part×queue  capture  mode   MB/s   SDK load  baseline RSS  peak RSS  ΔRSS   ΔheapUsed  Δexternal  ΔarrayBuffers  part×(queue+2)',
    );
    for (const [partMiB, queue] of configs) {
      for (const [i, mb] of sizes.entries()) {
        // The live run (GC before every sample) once per configuration, at the first size: it is slow.
        for (const live of withLive && i === 0 ? [false, true] : [false]) {
          const r = await upload(
            s3.sinkConfig({
              part_size_bytes: partMiB * MiB,
              queue_size: queue,
              rotation: { max_bytes: 4 * 1024 * MiB },
            }),
            mb,
            live,
          );
          const rate = r.bytes / MiB / (r.finishedMs / 1000);
          const d = (k: keyof Memory): string => mib(r.peak[k] - r.baseline[k]);
          console.log(
            [
              `${partMiB}×${queue}`.padEnd(11),
              `${mib(r.bytes)}`.padEnd(8),
              (live ? 'live' : 'plain').padEnd(6),
              rate.toFixed(1).padEnd(6),
              mib(r.baseline.rss - r.beforeSdk.rss).padEnd(9),
              mib(r.baseline.rss).padEnd(13),
              mib(r.peak.rss).padEnd(9),
              d('rss').padEnd(6),
              d('heapUsed').padEnd(10),
              d('external').padEnd(10),
              d('arrayBuffers').padEnd(14),
              mib(partMiB * MiB * (queue + 2)),
            ].join(' '),
          );
        }
      }
    }
    console.log(
      [
        "Baseline: after loading the AWS SDK and one HeadBucket (SDK load = that step's RSS). Δ = peak − baseline,",
        "each figure's own peak (sampled every 50 ms). external includes arrayBuffers (Buffer memory). plain: as the",
        'API runs; live: a full GC before every sample (node --expose-gc), i.e. what the upload really holds.',
        'part×(queue+2): what lib-storage keeps reachable at most (docs/sinks.md#memory); plain runs add Buffers V8',
        'has not collected yet (it collects external memory after about 64 MiB more was allocated).',
      ].join('\n'),
    );
  } finally {
    await s3.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
