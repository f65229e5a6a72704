/**
 * A real S3-protocol server on loopback for tests and benchmarks: npm `s3rver` on 127.0.0.1 (any free port) with a
 * temp directory, one bucket, and AbortMultipartUpload and ListMultipartUploads added (s3rver 3.x answers 405 and
 * NotImplemented; here they remove the staged parts exactly as S3 does and record the upload id, and list the staged
 * uploads). `stop()` drops open connections (a server that goes away mid-upload); `restart()` brings it back on
 * the same port and directory; `loseCreateAnswers` creates uploads whose answer never reaches the client.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import S3rver, { type S3rverContext } from 's3rver';

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
  /** The next this many CreateMultipartUploads are carried out, then their connection is cut before the answer. */
  loseCreateAnswers = 0;
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

  /** Ids of the multipart uploads staged and neither completed nor aborted (only those of keys under `prefix`). */
  pendingUploads(prefix = ''): string[] {
    const dir = join(this.directory, this.bucket, '._S3rver_uploads');
    return this.stagedUploads(dir)
      .filter((u) => prefix === '' || u.key?.startsWith(prefix) === true)
      .map((u) => u.id);
  }

  /** The uploads staged in `dir`; `key` is undefined while s3rver is still creating one. */
  private stagedUploads(dir: string): { id: string; key: string | undefined; initiated: Date }[] {
    if (!existsSync(dir)) return [];
    return readdirSync(dir).map((id) => {
      const keyFile = join(dir, id, 'key');
      return {
        id,
        key: existsSync(keyFile) ? readFileSync(keyFile, 'utf8') : undefined,
        initiated: statSync(join(dir, id)).mtime,
      };
    });
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
      if (ctx.method === 'POST' && ctx.query.uploads !== undefined) {
        await next();
        if (ctx.status === 200 && this.loseCreateAnswers > 0) {
          this.loseCreateAnswers--;
          ctx.req.socket.destroy();
        }
        return;
      }
      if (ctx.method === 'GET' && ctx.query.uploads !== undefined && /^\/[^/]+\/?$/.test(ctx.path)) {
        this.listUploads(ctx);
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

  /** ListMultipartUploads of this bucket (one page, prefix only: enough for what the sink asks). */
  private listUploads(ctx: S3rverContext): void {
    const bucket = ctx.path.split('/')[1] ?? '';
    const prefix = typeof ctx.query.prefix === 'string' ? ctx.query.prefix : '';
    const dir = join(this.directory, bucket, '._S3rver_uploads');
    const uploads = this.stagedUploads(dir).filter((u) => u.key?.startsWith(prefix) === true);
    const xml = (text: string): string =>
      text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    ctx.type = 'application/xml';
    ctx.body =
      '<?xml version="1.0" encoding="UTF-8"?>' +
      '<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      `<Bucket>${xml(bucket)}</Bucket><Prefix>${xml(prefix)}</Prefix><IsTruncated>false</IsTruncated>` +
      uploads
        .map(
          (u) =>
            `<Upload><Key>${xml(u.key!)}</Key><UploadId>${u.id}</UploadId><Initiated>${u.initiated.toISOString()}</Initiated></Upload>`,
        )
        .join('') +
      '</ListMultipartUploadsResult>';
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
