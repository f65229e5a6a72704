import { Inject, Injectable } from '@nestjs/common';
import { CaptureMetrics, type CaptureOutcome, type S3SinkObserver, type SinkState } from '@pcap/sinks';
import { Counter, Gauge, Registry } from 'prom-client';

import { ApiConfig } from '../config/api-config';

/**
 * The API's Prometheus metrics on its own registry (never the process-global one): the capture metrics of
 * `@pcap/sinks` with prefix `pcap_api`, plus agent availability as the API sees it. Storage sinks report uploads
 * through {@link s3Observer}.
 */
@Injectable()
export class ApiMetrics {
  readonly registry = new Registry();
  readonly captures: CaptureMetrics;
  /** Agent start requests by outcome: `started` or `failed` (agent unreachable, refused, timed out). */
  readonly agentRequests: Counter;
  /** Instances a capture asked for that could not be captured (down, missing, agent failed). */
  readonly instancesUnavailable: Counter;
  readonly s3Observer: S3SinkObserver;
  /** 1 when a storage sink's last check succeeded, 0 when it failed (SinkHealth; refreshed on scrape). */
  readonly sinkUp: Gauge;

  constructor(@Inject(ApiConfig) config: ApiConfig) {
    this.captures = new CaptureMetrics({
      registry: this.registry,
      prefix: 'pcap_api',
      appLabels: config.metrics.app_labels,
    });
    this.agentRequests = new Counter({
      name: 'pcap_api_agent_requests_total',
      help: 'Capture start requests to agents, by outcome (started, failed).',
      labelNames: ['outcome'],
      registers: [this.registry],
    });
    this.instancesUnavailable = new Counter({
      name: 'pcap_api_instances_unavailable_total',
      help: 'Requested instances that could not be captured (down, missing, or their agent failed).',
      registers: [this.registry],
    });
    this.sinkUp = new Gauge({
      name: 'pcap_api_sink_up',
      help: "1 when the storage sink's last check (S3: HeadBucket) succeeded, 0 when it failed or timed out.",
      labelNames: ['sink'],
      registers: [this.registry],
    });
    // Series exist from the start, so rates and absent() work before the first capture.
    this.agentRequests.inc({ outcome: 'started' }, 0);
    this.agentRequests.inc({ outcome: 'failed' }, 0);
    for (const sink of config.sinks) {
      this.captures.sinkErrors.inc({ sink: sink.name }, 0);
      this.captures.uploadBytes.inc({ sink: sink.name }, 0);
    }
    const uploads = this.captures;
    this.s3Observer = {
      objectStored: (sink, object, durationMs) => {
        uploads.uploadBytes.inc({ sink }, object.bytes);
        uploads.uploadDuration.observe({ sink }, durationMs / 1000);
      },
    };
  }

  /** Sink states feed the availability gauge. */
  sinkState(state: SinkState): void {
    this.sinkUp.set({ sink: state.name }, state.status === 'ok' ? 1 : 0);
  }

  /** Maps the runner's outcome text to a bounded label value. */
  static outcomeOf(text: string): CaptureOutcome {
    if (text === 'completed') return 'completed';
    if (text === 'client gone') return 'client_gone';
    if (text.startsWith('failed')) return 'failed';
    if (text.includes('limit')) return 'limit';
    return 'stopped';
  }
}
