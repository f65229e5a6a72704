/**
 * bench/sinks: S3 upload throughput of large captures into a local S3-protocol server (s3rver on 127.0.0.1, temp
 * dir), and the uploader's memory. Each run is a child process (bench/sinks/upload.ts) streaming a synthetic pcapng of
 * the given size through the real S3 sink; this process runs s3rver. Target: the uploader's peak RSS is bounded by
 * part size × (queue size + 1) plus the process's baseline, whatever the capture's size.
 *
 * Usage: node -r ts-node/register/transpile-only -r tsconfig-paths/register bench/sinks/run.ts
 *   [--sizes-mb 256,1024] [--configs 5x2,16x4]   (config = part MiB x queue size)
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
const configs = argOf('--configs', '5x2,16x4')
  .split(',')
  .map((c) => c.split('x').map(Number) as [number, number]);
const MiB = 1024 * 1024;
const root = join(__dirname, '..', '..');

interface UploadResult {
  bytes: number;
  packets: number;
  objects: number;
  finishedMs: number;
  baselineRss: number;
  peakRss: number;
  vmHwm: number;
  peakBuffers: number;
}

function upload(sink: Record<string, unknown>, mb: number): Promise<UploadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '-r',
        'ts-node/register/transpile-only',
        '-r',
        'tsconfig-paths/register',
        join(__dirname, 'upload.ts'),
        JSON.stringify({ sink, mb }),
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

const mib = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const s3 = await S3TestServer.start('bench-captures');
  try {
    console.log(
      'bench/sinks: S3 sink → s3rver on 127.0.0.1 (temp dir); synthetic pcapng of 1,280-byte packets',
    );
    console.log(
      'part×queue   capture     objects  MB/s   baseline RSS  peak RSS    peak−baseline  peak Buffers  part×(queue+1)',
    );
    for (const [partMiB, queue] of configs) {
      for (const mb of sizes) {
        const r = await upload(
          s3.sinkConfig({
            part_size_bytes: partMiB * MiB,
            queue_size: queue,
            rotation: { max_bytes: 4 * 1024 * MiB },
          }),
          mb,
        );
        const totalRate = r.bytes / MiB / (r.finishedMs / 1000);
        console.log(
          [
            `${partMiB}×${queue}`.padEnd(12),
            mib(r.bytes).padEnd(11),
            String(r.objects).padEnd(8),
            totalRate.toFixed(1).padEnd(6),
            mib(r.baselineRss).padEnd(13),
            mib(r.peakRss).padEnd(11),
            mib(r.peakRss - r.baselineRss).padEnd(14),
            mib(r.peakBuffers).padEnd(13),
            mib(partMiB * MiB * (queue + 1)),
          ].join(' '),
        );
      }
    }
    console.log(
      'MB/s: first byte to the last object complete (CompleteMultipartUpload + metadata copy). Peak Buffers: ' +
        'process.memoryUsage().arrayBuffers, sampled every 50 ms (live and not yet collected Buffers).',
    );
  } finally {
    await s3.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
