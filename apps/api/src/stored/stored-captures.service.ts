import type { Readable } from 'node:stream';

import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import {
  CaptureAuthorizer,
  CfForbiddenError,
  CfNotFoundError,
  CloudControllerClient,
  type UaaPrincipal,
} from '@pcap/cf';
import {
  appKeyPrefix,
  captureKeyPrefix,
  createS3Client,
  decodeMetadata,
  partKey,
  partOfKey,
  type S3SinkConfig,
  UnknownSinkError,
} from '@pcap/sinks';

import { ApiConfig } from '../config/api-config';
import { StoredCaptureNotFoundError } from '../http/api.errors';

/** Names that locate an app's captures in a bucket. */
interface AppNames {
  readonly guid: string;
  readonly org: string;
  readonly space: string;
  readonly app: string;
}

export interface StoredObjectInfo {
  readonly part: number;
  readonly size: number;
  readonly last_modified: string | undefined;
}

export interface StoredCaptureInfo {
  readonly capture_id: string;
  readonly objects: StoredObjectInfo[];
}

export interface StoredObjectDownload {
  readonly key: string;
  readonly body: Readable;
  readonly size: number | undefined;
}

/** Most objects one listing returns (newest captures are not guaranteed first: S3 lists keys in order). */
const LIST_LIMIT = 5000;

/**
 * Captures stored in the S3 sinks, readable only by users who may capture the app (the same CaptureAuthorizer and
 * operator policy as a live capture). An app the user cannot see is answered like one they may not capture (403),
 * so stored captures reveal nothing about other spaces. Keys are built from the app's names as Cloud Controller
 * reports them, never from request text; the object's `app-guid` metadata must match the app asked for.
 */
@Injectable()
export class StoredCaptures implements OnApplicationShutdown {
  private readonly clients = new Map<string, S3Client>();

  constructor(
    @Inject(ApiConfig) private readonly config: ApiConfig,
    @Inject(CloudControllerClient) private readonly cc: CloudControllerClient,
    @Inject(CaptureAuthorizer) private readonly authorizer: CaptureAuthorizer,
  ) {}

  async list(
    principal: UaaPrincipal,
    appGuid: string,
    sinkName: string,
    requestId: string,
  ): Promise<StoredCaptureInfo[]> {
    const sink = this.sink(sinkName);
    const names = await this.authorize(principal, appGuid, requestId);
    const prefix = appKeyPrefix(sink.prefix, names);
    const byCapture = new Map<string, StoredObjectInfo[]>();
    let token: string | undefined;
    let seen = 0;
    do {
      const page = await this.client(sink).send(
        new ListObjectsV2Command({ Bucket: sink.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) {
        const key = o.Key ?? '';
        const part = partOfKey(key);
        const captureId = key.slice(prefix.length).split('/')[0];
        if (part === undefined || captureId === undefined || captureId === '') continue;
        const objects = byCapture.get(captureId) ?? [];
        objects.push({ part, size: o.Size ?? 0, last_modified: o.LastModified?.toISOString() });
        byCapture.set(captureId, objects);
        seen++;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined && seen < LIST_LIMIT);
    return [...byCapture.entries()].map(([capture_id, objects]) => ({ capture_id, objects }));
  }

  /** The object's bytes, streamed. Rejects with 403/404 errors as {@link list}, or StoredCaptureNotFoundError. */
  async download(
    principal: UaaPrincipal,
    appGuid: string,
    sinkName: string,
    captureId: string,
    part: number,
    requestId: string,
  ): Promise<StoredObjectDownload> {
    const sink = this.sink(sinkName);
    const key = await this.checkedKey(principal, appGuid, sink, captureId, part, requestId);
    const res = await this.client(sink).send(new GetObjectCommand({ Bucket: sink.bucket, Key: key }));
    return { key, body: res.Body as Readable, size: res.ContentLength };
  }

  /** A short-lived presigned GET URL (`presign_seconds` of the sink). */
  async presign(
    principal: UaaPrincipal,
    appGuid: string,
    sinkName: string,
    captureId: string,
    part: number,
    requestId: string,
  ): Promise<{ key: string; url: string; expiresIn: number }> {
    const sink = this.sink(sinkName);
    const key = await this.checkedKey(principal, appGuid, sink, captureId, part, requestId);
    const url = await getSignedUrl(
      this.client(sink),
      new GetObjectCommand({ Bucket: sink.bucket, Key: key }),
      {
        expiresIn: sink.presign_seconds,
      },
    );
    return { key, url, expiresIn: sink.presign_seconds };
  }

  onApplicationShutdown(): void {
    for (const c of this.clients.values()) c.destroy();
    this.clients.clear();
  }

  private async checkedKey(
    principal: UaaPrincipal,
    appGuid: string,
    sink: S3SinkConfig,
    captureId: string,
    part: number,
    requestId: string,
  ): Promise<string> {
    const names = await this.authorize(principal, appGuid, requestId);
    const key = partKey(captureKeyPrefix(sink.prefix, names, captureId), part);
    let metadata: Record<string, string>;
    try {
      const head = await this.client(sink).send(new HeadObjectCommand({ Bucket: sink.bucket, Key: key }));
      metadata = decodeMetadata(head.Metadata);
    } catch (err) {
      if (err instanceof NotFound || err instanceof NoSuchKey) {
        throw new StoredCaptureNotFoundError(
          `No part ${part} of capture ${captureId} is stored in sink '${sink.name}'.`,
        );
      }
      throw err;
    }
    // A deleted app's name may have been reused: the object must belong to this very app.
    if (metadata['app-guid'] !== names.guid) {
      throw new StoredCaptureNotFoundError(
        `No part ${part} of capture ${captureId} is stored in sink '${sink.name}'.`,
      );
    }
    return key;
  }

  private async authorize(principal: UaaPrincipal, appGuid: string, requestId: string): Promise<AppNames> {
    const { policy } = this.config;
    let app;
    try {
      app = await this.authorizer.authorize({
        principal,
        appGuid,
        requestId,
        policy: {
          requireSshEnabled: policy.require_ssh_enabled,
          adminsOnly: policy.admins_only,
          allowReadOnlyAdmins: policy.allow_read_only_admins,
        },
      });
    } catch (err) {
      if (err instanceof CfNotFoundError) {
        throw new CfForbiddenError(
          'You may not read stored captures of this app: that needs the right to capture it (space developer or admin).',
          { cause: err },
        );
      }
      throw err;
    }
    const ctx = { token: principal.rawToken, requestId };
    const space = await this.cc.getSpace(ctx, app.spaceGuid);
    const org = await this.cc.getOrganization(ctx, space.orgGuid);
    return { guid: app.guid, org: org.name, space: space.name, app: app.name };
  }

  private sink(name: string): S3SinkConfig {
    const sink = this.config.sink(name);
    if (sink === undefined)
      throw new UnknownSinkError(
        name,
        this.config.sinks.map((s) => s.name),
      );
    return sink;
  }

  private client(sink: S3SinkConfig): S3Client {
    let c = this.clients.get(sink.name);
    if (c === undefined) {
      c = createS3Client(sink);
      this.clients.set(sink.name, c);
    }
    return c;
  }
}
