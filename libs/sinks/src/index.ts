/**
 * @pcap/sinks — where a capture's merged pcapng goes: the sink plugin contract (SinkFactory per kind behind
 * SINK_FACTORIES, a SinkHandle per capture), the registry, and the sinks: S3, client stream, Prometheus metrics.
 */
export {
  type CaptureRef,
  type SinkConfig,
  type SinkHandle,
  type SinkFactory,
  SINK_FACTORIES,
} from './sink.contract';
export {
  SinkFailedError,
  SinkAbortedError,
  ClientGoneError,
  UnknownSinkKindError,
  UnknownSinkError,
} from './sink.errors';
export { SinkRegistry } from './sink.registry';

export {
  s3SinkConfigSchema,
  type S3SinkConfig,
  type S3SinkConfigData,
  S3_MIN_PART_BYTES,
  S3_MAX_COPY_BYTES,
} from './s3/s3-sink.config';
export { createS3Client } from './s3/s3.client';
export {
  S3SinkFactory,
  S3SinkHandle,
  type StoredObject,
  type S3SinkObserver,
  PCAPNG_CONTENT_TYPE,
} from './s3/s3.sink';
export { appKeyPrefix, captureKeyPrefix, partKey, partOfKey } from './s3/s3-keys';
export { decodeMetadata } from './s3/s3-metadata';

export {
  ClientStream,
  type ClientStreamOptions,
  type ClientStreamStats,
  type CaptureFormat,
} from './client-stream/client-stream';
export {
  ClientStreamSinkFactory,
  ClientStreamSinkHandle,
  type ClientStreamSinkConfig,
} from './client-stream/client-stream.sink';
export {
  CaptureMetrics,
  type CaptureMetricsOptions,
  type CaptureOutcome,
  type AppLabels,
} from './metrics/capture-metrics';
export {
  MetricsSinkFactory,
  MetricsSinkHandle,
  type MetricsSinkConfig,
  type MetricsTotals,
} from './metrics/metrics.sink';
export { SinkFanOut, type SinkFanOutOptions } from './fan-out/sink-fan-out';
export { CaptureLimit, type CaptureLimitOptions, type CaptureLimitStats } from './fan-out/capture-limit';
export { SinkHealth, type SinkHealthOptions, type SinkState } from './health/sink-health';
