/**
 * A real S3-protocol server on loopback for tests and benchmarks: npm `s3rver` on 127.0.0.1 (any free port) with a
 * temp directory, one bucket, and AbortMultipartUpload added (s3rver 3.x answers 405 to it; here it removes the
 * staged parts exactly as S3 does and records the upload id). `stop()` drops open connections (a server that goes
 * away mid-upload); `restart()` brings it back on the same port and directory.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import S3rver from 's3rver';

export const TEST_S3_CREDENTIALS = { access_key_id: 'S3RVER', secret_access_key: 'S3RVER' } as const;

export class S3TestServer {
  /** Upload ids aborted through AbortMultipartUpload, in order. */
  readonly aborted: string[] = [];
  /** Upload id → parts received (UploadPart requests that succeeded). */
  readonly partsUploaded = new Map<string, number>();
  /** Upload ids completed through CompleteMultipartUpload. */
  readonly completed: string[] = [];
  /** Delay before every request is handled (a slow destination). */
  delayMs = 0;
  private server: S3rver | undefined;
  private port = 0;

  private constructor(
    readonly directory: string,
    readonly bucket: string,
  ) {}

  static async start(bucket = 'pcap-captures'): Promise<S3TestServer> {
    const s = new S3TestServer(mkdtempSync(join(tmpdir(), 's3rver-')), bucket);
    await s.restart();
    return s;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** An S3 sink config (the `sinks.<name>` entry) for this server. */
  sinkConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      kind: 's3',
      endpoint: this.endpoint,
      region: 'us-east-1',
      bucket: this.bucket,
      force_path_style: true,
      credentials: { ...TEST_S3_CREDENTIALS },
      ...overrides,
    };
  }

  /** Multipart uploads staged and neither completed nor aborted. */
  pendingUploads(): string[] {
    const dir = join(this.directory, this.bucket, '._S3rver_uploads');
    return existsSync(dir) ? readdirSync(dir) : [];
  }

  async restart(): Promise<void> {
    const server = new S3rver({
      address: '127.0.0.1',
      port: this.port,
      silent: true,
      directory: this.directory,
      configureBuckets: [{ name: this.bucket }],
    });
    server.middleware.unshift(async (ctx, next) => {
      if (this.delayMs > 0) await sleep(this.delayMs);
      const uploadId = ctx.query.uploadId;
      if (typeof uploadId === 'string' && ctx.method === 'PUT' && ctx.query.partNumber !== undefined) {
        await next();
        if (ctx.status === 200) this.partsUploaded.set(uploadId, (this.partsUploaded.get(uploadId) ?? 0) + 1);
        return;
      }
      if (typeof uploadId === 'string' && ctx.method === 'POST') {
        await next();
        if (ctx.status === 200) this.completed.push(uploadId);
        return;
      }
      if (ctx.method !== 'DELETE' || typeof uploadId !== 'string') return next();
      const bucket = ctx.path.split('/')[1] ?? '';
      const staged = join(this.directory, bucket, '._S3rver_uploads', uploadId);
      if (!/^[0-9a-f]+$/.test(uploadId) || !existsSync(staged)) {
        ctx.status = 404;
        ctx.body = 'NoSuchUpload';
        return;
      }
      await rm(staged, { recursive: true, force: true });
      this.aborted.push(uploadId);
      ctx.status = 204;
    });
    const address = await server.run();
    this.port = address.port;
    this.server = server;
  }

  /** Stops listening and drops every open connection (in-flight requests fail). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = server.close();
    server.httpServer?.closeAllConnections();
    await closed;
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.directory, { recursive: true, force: true });
  }
}
