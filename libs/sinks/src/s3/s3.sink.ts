import { once } from 'node:events';
import { PassThrough, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import type { S3Client } from '@aws-sdk/client-s3';
import type { Upload } from '@aws-sdk/lib-storage';
import { Injectable, Logger } from '@nestjs/common';
import { PcapngBlockParser, type PcapngEvent } from '@pcap/capture';

import type { CaptureRef, SinkFactory, SinkHandle } from '../sink.contract';
import { SinkAbortedError, SinkFailedError } from '../sink.errors';
import { awsLibStorage, awsS3 } from './aws-sdk';
import { createS3Client, encryptionParams } from './s3.client';
import { captureKeyPrefix, copySource, partKey } from './s3-keys';
import { endMetadata, startMetadata } from './s3-metadata';
import type { S3SinkConfig } from './s3-sink.config';

export const PCAPNG_CONTENT_TYPE = 'application/x-pcapng';

/** One object a capture stored. */
export interface StoredObject {
  readonly key: string;
  readonly part: number;
  readonly bytes: number;
  readonly packets: number;
}

/** Observes uploads (the Prometheus metrics hook in); every method is optional. */
export interface S3SinkObserver {
  objectStored?(sink: string, object: StoredObject, durationMs: number): void;
  bytesUploaded?(sink: string, bytes: number): void;
}

/**
 * Streams captures into an operator-configured bucket (`kind: s3`) with `@aws-sdk/lib-storage` multipart uploads.
 * Stateless: every handle has its own S3 client, destroyed when the handle settles.
 */
@Injectable()
export class S3SinkFactory implements SinkFactory<S3SinkConfig> {
  readonly kind = 's3';

  constructor(private readonly observer: S3SinkObserver = {}) {}

  open(capture: CaptureRef, config: S3SinkConfig): Promise<S3SinkHandle> {
    return Promise.resolve(new S3SinkHandle(createS3Client(config), config, capture, this.observer));
  }

  /** HeadBucket with the sink's credentials, one attempt. */
  async check(config: S3SinkConfig, signal?: AbortSignal): Promise<void> {
    const client = createS3Client(config, { maxAttempts: 1 });
    try {
      await client.send(
        new (awsS3().HeadBucketCommand)({ Bucket: config.bucket }),
        signal === undefined ? {} : { abortSignal: signal },
      );
    } catch (err) {
      const why = signal?.aborted === true ? describe(signal.reason) : describeS3(err);
      throw new SinkFailedError(config.name, `bucket '${config.bucket}' is not usable: ${why}`, {
        cause: err,
      });
    } finally {
      client.destroy();
    }
  }
}

/**
 * One capture into S3. The pcapng written to `input` is parsed into whole blocks and streamed into objects
 * `<prefix><org>/<space>/<app>/<capture-id>/<part>.pcapng`; a new object starts (with the Section Header Block and
 * every Interface Description Block repeated, so each object is a complete pcapng) when the current one would grow
 * past `rotation.max_bytes` or is older than `rotation.max_seconds`. With `rotation.ring` only the newest N objects
 * are kept.
 *
 * Backpressure: blocking. `input` waits while lib-storage has `queue_size` parts in flight, so what the upload holds
 * is bounded by the part size and queue size (lib-storage: up to `part_size_bytes × (queue_size + 2)`, see
 * docs/sinks.md, Memory) whatever the capture's size.
 *
 * Failure: an object becomes visible only when its upload completes (PutObject or CompleteMultipartUpload); on any
 * failure the open multipart upload is aborted (retried with backoff), `input` is destroyed and `finished()`
 * rejects with SinkFailedError naming the reason. Destroying `input` before it ended aborts the same way
 * (SinkAbortedError). Objects completed before a failure stay: each is a complete, valid pcapng.
 */
export class S3SinkHandle implements SinkHandle {
  readonly kind = 's3';
  readonly input: Writable;

  private readonly logger = new Logger(S3SinkHandle.name);
  private readonly parser: PcapngBlockParser;
  private readonly capturePrefix: string;
  private readonly stored: StoredObject[] = [];
  private readonly settled: Promise<void>;
  private events: PcapngEvent[] = [];
  private section: Buffer | undefined;
  private interfaces: Buffer[] = [];
  private current: ObjectUpload | undefined;
  private part = 0;
  private ended = false;
  /** Key → the multipart upload created for it (settles even when the request was cut off). */
  private readonly createdUploads = new Map<string, Promise<CreatedUpload>>();

  constructor(
    private readonly client: S3Client,
    private readonly config: S3SinkConfig,
    private readonly capture: CaptureRef,
    private readonly observer: S3SinkObserver,
  ) {
    this.capturePrefix = captureKeyPrefix(config.prefix, capture, capture.id);
    this.watchCreatedUploads();
    this.parser = new PcapngBlockParser((e) => this.events.push(e), { packets: 'runs' });
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    this.settled = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Observed by finished(); a caller that never asks must not crash the process.
    this.settled.catch(() => undefined);
    this.input = new Writable({
      highWaterMark: 256 * 1024,
      write: (chunk: Buffer, _encoding, callback) => {
        this.consume(chunk).then(
          () => callback(),
          (err: unknown) => callback(this.asSinkError(err)),
        );
      },
      final: (callback) => {
        this.close().then(
          () => {
            this.ended = true;
            callback();
          },
          (err: unknown) => callback(this.asSinkError(err)),
        );
      },
      destroy: (error, callback) => {
        if (this.ended && error === null) {
          this.client.destroy();
          resolve();
          callback(null);
          return;
        }
        const reason =
          error === null
            ? new SinkAbortedError(
                this.name,
                'the capture was aborted before its end; nothing incomplete was stored',
              )
            : this.asSinkError(error);
        void this.abortCurrent(reason).then(() => {
          this.client.destroy();
          reject(reason);
          // A caller's destroy() without an error is an abort, not an 'error' event for them to handle.
          callback(error === null ? null : reason);
        });
      },
    });
  }

  get name(): string {
    return this.config.name;
  }

  /** Objects completed so far (after `finished()`, all of them), oldest first; deleted ring objects excluded. */
  get objects(): readonly StoredObject[] {
    return this.stored;
  }

  finished(): Promise<void> {
    return this.settled;
  }

  /**
   * Records every CreateMultipartUpload of this handle's client: an abort that races an in-flight create must
   * still learn the upload id, or the staged upload would outlive the capture; and a create that was retried (its
   * first answer lost) may have left an upload behind whose id only a listing finds.
   */
  private watchCreatedUploads(): void {
    this.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'CreateMultipartUploadCommand') return next(args);
        const key = (args.input as { Key?: string }).Key ?? '';
        let settle!: (created: CreatedUpload) => void;
        this.createdUploads.set(key, new Promise((resolve) => (settle = resolve)));
        try {
          const result = await next(args);
          const output = result.output as { UploadId?: string; $metadata?: { attempts?: number } };
          settle({ id: output.UploadId, retried: (output.$metadata?.attempts ?? 1) > 1 });
          return result;
        } catch (err) {
          settle({ id: undefined, retried: true });
          throw err;
        }
      },
      { step: 'initialize', name: 'pcapRecordCreatedUploads' },
    );
  }

  private async consume(chunk: Buffer): Promise<void> {
    try {
      this.parser.push(chunk);
    } catch (err) {
      throw new SinkFailedError(this.name, `not a valid pcapng stream: ${describe(err)}`, { cause: err });
    }
    const events = this.events;
    this.events = [];
    for (const event of events) await this.accept(event);
  }

  private async accept(event: PcapngEvent): Promise<void> {
    switch (event.type) {
      case 'section':
        this.section = event.block;
        this.interfaces = [];
        if (this.current) await this.current.write(event.block);
        else await this.openObject();
        return;
      case 'interface':
        this.interfaces.push(event.block);
        if (this.current) await this.current.write(event.block);
        else await this.openObject();
        return;
      case 'packets':
        await this.packets(event.data);
        return;
      case 'statistics': {
        const object = await this.object();
        object.kernelDrops += event.ifDrop ?? 0n;
        object.discarded += event.osDrop ?? 0n;
        await object.write(event.block);
        return;
      }
      case 'message':
      case 'packet':
      case 'simplePacket':
        await (await this.object()).write(event.block);
        return;
    }
  }

  /** Writes a run of EPBs, rotating between two packets where the current object is full or old. */
  private async packets(data: Buffer): Promise<void> {
    const maxBytes = this.config.rotation.max_bytes;
    const maxMs =
      this.config.rotation.max_seconds === undefined ? undefined : this.config.rotation.max_seconds * 1000;
    let object = await this.object();
    let aged = maxMs !== undefined && Date.now() - object.openedAt >= maxMs;
    let start = 0;
    let off = 0;
    let n = 0;
    while (off < data.length) {
      const length = data.readUInt32LE(off + 4);
      if (object.packets + n > 0 && (aged || object.bytes + (off - start) + length > maxBytes)) {
        if (off > start) await object.write(data.subarray(start, off));
        object.packets += n;
        object = await this.rotate();
        aged = false;
        start = off;
        n = 0;
        continue;
      }
      off += length;
      n++;
    }
    if (off > start) await object.write(data.subarray(start, off));
    object.packets += n;
  }

  private async object(): Promise<ObjectUpload> {
    return this.current ?? (await this.openObject());
  }

  /** Starts the next object with the section header and every interface of the section. */
  private async openObject(): Promise<ObjectUpload> {
    if (this.section === undefined) {
      throw new SinkFailedError(this.name, 'not a valid pcapng stream: no Section Header Block first');
    }
    this.part++;
    const object = new ObjectUpload(
      this.client,
      this.config,
      this.capture,
      partKey(this.capturePrefix, this.part),
      this.part,
      (err) => this.input.destroy(this.asSinkError(err)),
    );
    this.current = object;
    this.logger.log(`capture ${this.capture.id}: sink ${this.name}: object ${object.key} started`);
    await object.write(this.section);
    for (const idb of this.interfaces) await object.write(idb);
    return object;
  }

  private async rotate(): Promise<ObjectUpload> {
    if (this.current) await this.complete(this.current);
    return this.openObject();
  }

  private async close(): Promise<void> {
    try {
      this.parser.end();
    } catch (err) {
      throw new SinkFailedError(this.name, `the pcapng stream ended inside a block: ${describe(err)}`, {
        cause: err,
      });
    }
    if (this.current) await this.complete(this.current);
  }

  /** Completes the current object; until it has, it stays current, so that a failure meanwhile aborts it. */
  private async complete(object: ObjectUpload): Promise<void> {
    const began = object.openedAt;
    await object.complete();
    this.current = undefined;
    const durationMs = Date.now() - began;
    await this.abortStrayUploads(object.key);
    const stored: StoredObject = {
      key: object.key,
      part: object.part,
      bytes: object.bytes,
      packets: object.packets,
    };
    this.stored.push(stored);
    this.observer.bytesUploaded?.(this.name, object.bytes);
    this.observer.objectStored?.(this.name, stored, durationMs);
    this.logger.log(
      `capture ${this.capture.id}: sink ${this.name}: object ${object.key} stored (${object.bytes} bytes, ${object.packets} packets)`,
    );
    const ring = this.config.rotation.ring;
    if (ring !== undefined && this.stored.length > ring) {
      const old = this.stored.shift()!;
      await this.client.send(new (awsS3().DeleteObjectCommand)({ Bucket: this.config.bucket, Key: old.key }));
    }
  }

  private async abortCurrent(reason: Error): Promise<void> {
    const object = this.current;
    this.current = undefined;
    if (!object) return;
    this.logger.warn(
      `capture ${this.capture.id}: sink ${this.name}: aborting ${object.key}: ${reason.message}`,
    );
    const completed = await object.stop();
    const created = completed ? undefined : await this.createdUploads.get(object.key);
    if (created === undefined) return; // no multipart upload was started for this object
    const pending = new Set<string>(created.id === undefined ? [] : [created.id]);
    // A create that was retried or failed may have made uploads whose id never reached us: find them by key.
    let listed = !created.retried;
    let aborted = 0;
    const { abort_attempts: attempts, abort_backoff_ms: backoff } = this.config.retry;
    for (let attempt = 1; ; attempt++) {
      try {
        if (!listed) {
          for (const id of await this.uploadsToAbort(object.key)) pending.add(id);
          listed = true;
        }
        for (const id of [...pending]) {
          aborted += (await this.abortUpload(object.key, id)) ? 1 : 0;
          pending.delete(id);
        }
        if (aborted > 0) {
          this.logger.log(
            `capture ${this.capture.id}: sink ${this.name}: multipart upload of ${object.key} aborted`,
          );
        }
        return;
      } catch (err) {
        if (attempt >= attempts || isForbidden(err)) {
          // The bucket's lifecycle rule for incomplete multipart uploads removes the parts (docs/sinks.md).
          this.logger.error(
            `capture ${this.capture.id}: sink ${this.name}: could not abort the multipart upload of ${object.key}: ${describeS3(err)}`,
          );
          return;
        }
        await sleep(backoff * 2 ** (attempt - 1));
      }
    }
  }

  /**
   * After an object completed: a create the SDK had to retry may also have made an upload whose answer was lost.
   * Nobody knows its id and it would stay staged, so it is found by key and aborted (once, best effort).
   */
  private async abortStrayUploads(key: string): Promise<void> {
    const created = await this.createdUploads.get(key);
    if (created?.retried !== true) return;
    try {
      for (const id of await this.uploadsOf(key)) {
        if (id === created.id) continue;
        await this.abortUpload(key, id);
        this.logger.log(
          `capture ${this.capture.id}: sink ${this.name}: stray multipart upload ${id} of ${key} aborted`,
        );
      }
    } catch (err) {
      this.logger.warn(
        `capture ${this.capture.id}: sink ${this.name}: could not look for stray multipart uploads of ${key}: ${describeS3(err)}`,
      );
    }
  }

  /** AbortMultipartUpload; false when there was no such upload (already gone: nothing to abort). */
  private async abortUpload(key: string, uploadId: string): Promise<boolean> {
    try {
      await this.client.send(
        new (awsS3().AbortMultipartUploadCommand)({
          Bucket: this.config.bucket,
          Key: key,
          UploadId: uploadId,
        }),
      );
      return true;
    } catch (err) {
      if ((err as { name?: string } | null)?.name === 'NoSuchUpload') return false;
      throw err;
    }
  }

  /** uploadsOf(key) for an abort; without s3:ListBucketMultipartUploads none (only the known one is aborted). */
  private async uploadsToAbort(key: string): Promise<string[]> {
    try {
      return await this.uploadsOf(key);
    } catch (err) {
      if (!isForbidden(err)) throw err;
      this.logger.warn(
        `capture ${this.capture.id}: sink ${this.name}: cannot list the multipart uploads of ${key}: ${describeS3(err)}`,
      );
      return [];
    }
  }

  /** Ids of the multipart uploads in progress for exactly this key (ListMultipartUploads). */
  private async uploadsOf(key: string): Promise<string[]> {
    const ids: string[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.client.send(
        new (awsS3().ListMultipartUploadsCommand)({
          Bucket: this.config.bucket,
          Prefix: key,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        }),
      );
      for (const upload of page.Uploads ?? []) {
        if (upload.Key === key && upload.UploadId !== undefined) ids.push(upload.UploadId);
      }
      if (page.IsTruncated !== true || page.NextKeyMarker === undefined) return ids;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  private asSinkError(err: unknown): SinkFailedError {
    if (err instanceof SinkFailedError) return err;
    return new SinkFailedError(this.name, `S3 sink '${this.name}' failed: ${describe(err)}`, { cause: err });
  }
}

/** One object being uploaded: a body stream lib-storage reads in parts. */
class ObjectUpload {
  readonly openedAt = Date.now();
  bytes = 0;
  packets = 0;
  kernelDrops = 0n;
  discarded = 0n;

  private readonly body = new PassThrough({ highWaterMark: 256 * 1024 });
  private readonly upload: Upload;
  private readonly done: Promise<void>;
  private readonly startMetadata: Record<string, string>;
  private stopped = false;
  private uploaded = false;

  constructor(
    private readonly client: S3Client,
    private readonly config: S3SinkConfig,
    capture: CaptureRef,
    readonly key: string,
    readonly part: number,
    onFailure: (err: unknown) => void,
  ) {
    this.startMetadata = startMetadata(capture, part, new Date(this.openedAt));
    // Failures surface through the upload's promise; a write after a failure must not throw an 'error' event.
    this.body.on('error', () => undefined);
    this.upload = new (awsLibStorage().Upload)({
      client,
      params: {
        Bucket: config.bucket,
        Key: key,
        Body: this.body,
        ContentType: PCAPNG_CONTENT_TYPE,
        Metadata: this.startMetadata,
        ...encryptionParams(config),
      },
      partSize: config.part_size_bytes,
      queueSize: config.queue_size,
      // We abort ourselves, with retries: a single attempt right after a network failure usually fails too.
      leavePartsOnError: true,
    });
    this.done = this.upload.done().then(() => undefined);
    this.done.catch((err: unknown) => {
      if (!this.stopped) onFailure(err);
    });
  }

  /** Writes bytes, waiting while lib-storage is behind. Rejects when the upload failed. */
  async write(data: Buffer): Promise<void> {
    this.bytes += data.length;
    if (this.body.write(data)) return;
    await Promise.race([
      once(this.body, 'drain'),
      this.done.then(() => {
        throw new Error('the upload ended before its body');
      }),
    ]);
  }

  /** Ends the body, waits for the upload to complete, then adds the final statistics as metadata. */
  async complete(): Promise<void> {
    this.body.end();
    await this.done;
    this.uploaded = true;
    const endedAt = new Date();
    // Metadata is fixed when an upload starts; an in-place copy is how S3 changes it (no data passes through us).
    await this.client.send(
      new (awsS3().CopyObjectCommand)({
        Bucket: this.config.bucket,
        Key: this.key,
        CopySource: copySource(this.config.bucket, this.key),
        MetadataDirective: 'REPLACE',
        ContentType: PCAPNG_CONTENT_TYPE,
        Metadata: {
          ...this.startMetadata,
          ...endMetadata({
            endedAt,
            packets: this.packets,
            bytes: this.bytes,
            kernelDrops: this.kernelDrops,
            discarded: this.discarded,
          }),
        },
        ...encryptionParams(this.config),
      }),
    );
  }

  /** Stops uploading; resolves true if the upload had already completed (nothing to abort). */
  async stop(): Promise<boolean> {
    this.stopped = true;
    this.body.destroy();
    await this.upload.abort();
    await this.done.catch(() => undefined);
    return this.uploaded;
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/** What a CreateMultipartUpload made: its id if the answer came; retried if an earlier attempt may have made one. */
interface CreatedUpload {
  readonly id: string | undefined;
  readonly retried: boolean;
}

/** Access denied: asking again will not help. */
function isForbidden(err: unknown): boolean {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode === 403;
}

/**
 * An S3 error for people: a HEAD answer has no body, so the SDK's message is often just 'UnknownError'; the error
 * name (NotFound, Forbidden) and the HTTP status say more.
 */
function describeS3(err: unknown): string {
  const status = (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  if (!(err instanceof Error) || status === undefined) return describe(err);
  const message = err.message === '' || err.message === 'UnknownError' ? '' : `: ${err.message}`;
  return `${err.name} (HTTP ${status})${message}`;
}
