import type * as ClientS3 from '@aws-sdk/client-s3';
import type * as LibStorage from '@aws-sdk/lib-storage';

/*
 * The AWS SDK is loaded on first use, not when `@pcap/sinks` is imported: a process that never stores to S3 (the
 * agent, which only uses the metrics of this lib) does not carry it (about 7 MB of RSS).
 */
let clientS3: typeof ClientS3 | undefined;
let libStorage: typeof LibStorage | undefined;

/** `@aws-sdk/client-s3`, loaded once. */
export function awsS3(): typeof ClientS3 {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  clientS3 ??= require('@aws-sdk/client-s3') as typeof ClientS3;
  return clientS3;
}

/** `@aws-sdk/lib-storage`, loaded once. */
export function awsLibStorage(): typeof LibStorage {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  libStorage ??= require('@aws-sdk/lib-storage') as typeof LibStorage;
  return libStorage;
}
