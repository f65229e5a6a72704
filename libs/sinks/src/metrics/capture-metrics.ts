import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Outcome of a capture as a bounded label value. */
export type CaptureOutcome = 'completed' | 'limit' | 'stopped' | 'client_gone' | 'failed' | 'refused';

/** Optional org/space/app labels (off by default: they multiply series by the number of apps). */
export interface AppLabels {
  readonly org: string;
  readonly space: string;
  readonly app: string;
}

export interface CaptureMetricsOptions {
  readonly registry: Registry;
  /** Metric name prefix, e.g. `pcap_api`. */
  readonly prefix: string;
  /** Add org/space/app labels to per-capture series. Never per instance or per user. */
  readonly appLabels: boolean;
  /** Register the captured-bytes counter (off where bytes are not known, e.g. the agent). Default true. */
  readonly bytes?: boolean;
}

const DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 86400];
const UPLOAD_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900];

/**
 * The capture metrics of one process (API or agent), on its own prom-client Registry. Label values are bounded:
 * outcome (a fixed set), sink (configured sink names) and, when enabled, org/space/app names.
 */
export class CaptureMetrics {
  readonly active: Gauge;
  readonly started: Counter;
  readonly finished: Counter;
  readonly packets: Counter;
  /** Undefined when the process does not count bytes (`bytes: false`). */
  readonly bytes: Counter | undefined;
  readonly kernelDrops: Counter;
  readonly discarded: Counter;
  readonly duration: Histogram;
  readonly sinkErrors: Counter;
  readonly uploadBytes: Counter;
  readonly uploadDuration: Histogram;
  private readonly appLabelNames: readonly string[];

  constructor(private readonly options: CaptureMetricsOptions) {
    const { registry, prefix } = options;
    const app = options.appLabels ? ['org', 'space', 'app'] : [];
    this.appLabelNames = app;
    const registers = [registry];
    this.active = new Gauge({ name: `${prefix}_captures_active`, help: 'Captures running now.', registers });
    this.started = new Counter({
      name: `${prefix}_captures_started_total`,
      help: 'Captures started.',
      labelNames: app,
      registers,
    });
    this.finished = new Counter({
      name: `${prefix}_captures_finished_total`,
      help: 'Captures finished, by outcome.',
      labelNames: ['outcome', ...app],
      registers,
    });
    this.packets = new Counter({
      name: `${prefix}_packets_total`,
      help: 'Packets captured and passed on.',
      labelNames: app,
      registers,
    });
    this.bytes =
      options.bytes === false
        ? undefined
        : new Counter({
            name: `${prefix}_packet_bytes_total`,
            help: 'Captured packet bytes passed on (captured length).',
            labelNames: app,
            registers,
          });
    this.kernelDrops = new Counter({
      name: `${prefix}_kernel_drops_total`,
      help: 'Packets the kernel dropped (isb_ifdrop of the captures).',
      labelNames: app,
      registers,
    });
    this.discarded = new Counter({
      name: `${prefix}_discarded_packets_total`,
      help: 'Packets we discarded because a reader was too slow (bounded queues), by stage.',
      labelNames: ['stage', ...app],
      registers,
    });
    this.duration = new Histogram({
      name: `${prefix}_capture_duration_seconds`,
      help: 'Duration of finished captures.',
      labelNames: ['outcome'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.sinkErrors = new Counter({
      name: `${prefix}_sink_errors_total`,
      help: 'Sinks that failed during a capture, by configured sink name.',
      labelNames: ['sink'],
      registers,
    });
    this.uploadBytes = new Counter({
      name: `${prefix}_sink_upload_bytes_total`,
      help: 'Bytes stored by storage sinks (completed objects), by sink.',
      labelNames: ['sink'],
      registers,
    });
    this.uploadDuration = new Histogram({
      name: `${prefix}_sink_upload_duration_seconds`,
      help: 'Time from starting an object to its completed upload, by sink.',
      labelNames: ['sink'],
      buckets: UPLOAD_BUCKETS,
      registers,
    });
  }

  /** The org/space/app label values when enabled, else none. */
  labels(app: AppLabels | undefined): Record<string, string> {
    if (this.appLabelNames.length === 0 || app === undefined) return {};
    return { org: app.org, space: app.space, app: app.app };
  }
}
