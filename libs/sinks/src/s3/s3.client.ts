import type { S3Client } from '@aws-sdk/client-s3';

import { awsS3 } from './aws-sdk';
import type { S3SinkConfig } from './s3-sink.config';

/**
 * An S3 client for one configured sink. Checksums only where S3 requires them, so S3-compatible servers that do
 * not know the newer checksum headers keep working. `overrides.maxAttempts` replaces `retry.max_attempts` (health
 * checks make one attempt). The caller owns it and calls `destroy()`.
 */
export function createS3Client(config: S3SinkConfig, overrides: { maxAttempts?: number } = {}): S3Client {
  const timeoutMs = config.request_timeout_seconds * 1000;
  return new (awsS3().S3Client)({
    region: config.region,
    ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
    forcePathStyle: config.force_path_style,
    ...(config.credentials === undefined
      ? {}
      : {
          credentials: {
            accessKeyId: config.credentials.access_key_id,
            secretAccessKey: config.credentials.secret_access_key,
            ...(config.credentials.session_token === undefined
              ? {}
              : { sessionToken: config.credentials.session_token }),
          },
        }),
    maxAttempts: overrides.maxAttempts ?? config.retry.max_attempts,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs },
  });
}

/** Server-side encryption parameters of PutObject / CreateMultipartUpload / CopyObject. */
export function encryptionParams(config: S3SinkConfig): {
  ServerSideEncryption?: 'AES256' | 'aws:kms';
  SSEKMSKeyId?: string;
} {
  const sse = config.server_side_encryption;
  if (sse === undefined) return {};
  return {
    ServerSideEncryption: sse.algorithm,
    ...(sse.kms_key_id === undefined ? {} : { SSEKMSKeyId: sse.kms_key_id }),
  };
}
