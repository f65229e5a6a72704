import { z } from 'zod';

/** S3 wants parts of at least 5 MiB (except the last one). */
export const S3_MIN_PART_BYTES = 5 * 1024 * 1024;
/** Largest object a single in-place CopyObject (used to add the final statistics as metadata) accepts. */
export const S3_MAX_COPY_BYTES = 5 * 1024 * 1024 * 1024;

/**
 * One operator-configured S3 bucket under a name (the API's `sinks.<name>` with `kind: s3`). Users choose the name;
 * endpoint, bucket, prefix and credentials never come from a request.
 */
export const s3SinkConfigSchema = z.strictObject({
  kind: z.literal('s3'),
  /** Custom endpoint (MinIO, Ceph, a local server); absent = AWS for `region`. */
  endpoint: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  region: z.string().min(1).default('us-east-1'),
  bucket: z.string().min(3).max(63),
  /** Key prefix before `<org>/<space>/<app>/<capture-id>/<part>.pcapng`, e.g. `captures/` (must end with `/`). */
  prefix: z
    .string()
    .max(512)
    .refine((p) => p === '' || p.endsWith('/'), 'must be empty or end with /')
    .default(''),
  /** Static credentials; absent = the AWS SDK's default chain (instance profile, environment, ...). */
  credentials: z
    .strictObject({
      access_key_id: z.string().min(1),
      secret_access_key: z.string().min(1),
      session_token: z.string().min(1).optional(),
    })
    .optional(),
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (MinIO, most local servers). */
  force_path_style: z.boolean().default(false),
  server_side_encryption: z
    .strictObject({
      algorithm: z.enum(['AES256', 'aws:kms']),
      kms_key_id: z.string().min(1).optional(),
    })
    .optional(),
  /**
   * Multipart part size. lib-storage keeps up to part_size_bytes × (queue_size + 2) of Buffers reachable per
   * upload; the process's peak adds Buffers not yet collected (docs/sinks.md, Memory).
   */
  part_size_bytes: z
    .number()
    .int()
    .min(S3_MIN_PART_BYTES)
    .max(512 * 1024 * 1024)
    .default(S3_MIN_PART_BYTES),
  /** Parts uploaded concurrently per object. */
  queue_size: z.number().int().min(1).max(16).default(2),
  rotation: z
    .strictObject({
      /** Start a new object (with its own section header and interfaces) before one grows past this. */
      max_bytes: z
        .number()
        .int()
        .min(1024)
        .max(S3_MAX_COPY_BYTES)
        .default(1024 * 1024 * 1024),
      /** Start a new object once the current one is this old; absent = only by size. */
      max_seconds: z.number().int().positive().optional(),
      /** Keep only the newest N objects of a capture (older ones are deleted); absent = keep all. */
      ring: z.number().int().min(1).max(10_000).optional(),
    })
    .prefault({}),
  retry: z
    .strictObject({
      /** Attempts per S3 request (the SDK's standard strategy: exponential backoff with jitter on transient errors). */
      max_attempts: z.number().int().min(1).max(20).default(4),
      /** Attempts to abort a failed multipart upload, `abort_backoff_ms` doubling between them. */
      abort_attempts: z.number().int().min(1).max(20).default(6),
      abort_backoff_ms: z.number().int().min(10).max(60_000).default(500),
    })
    .prefault({}),
  /** Lifetime of a presigned download URL. */
  presign_seconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600)
    .default(300),
  /** Timeout of a single S3 request (connect and socket idle). */
  request_timeout_seconds: z.number().int().positive().max(600).default(60),
});

export type S3SinkConfigData = z.output<typeof s3SinkConfigSchema>;

/** A parsed S3 sink configuration with its name. */
export type S3SinkConfig = S3SinkConfigData & { readonly name: string };
