import { Inject, Injectable } from '@nestjs/common';
import { CaptureMetrics } from '@pcap/sinks';
import { Gauge, Registry } from 'prom-client';

import type { SessionStats } from '../capture/capture-session';
import { AgentConfig } from '../config/agent-config';

/** Labels of a capture as the API described it (`origin` of the request). */
export interface CaptureOrigin {
  readonly org?: string;
  readonly space?: string;
  readonly app?: string;
}

/**
 * The agent's Prometheus metrics (prefix `pcap_agent`, own registry): the capture metrics of `@pcap/sinks` plus
 * availability. Per-capture counters move when a capture ends (from its final statistics), so they always agree
 * with the capture's Interface Statistics Block.
 */
@Injectable()
export class AgentMetrics {
  readonly registry = new Registry();
  readonly captures: CaptureMetrics;
  readonly up: Gauge;
  readonly draining: Gauge;
  readonly capacity: Gauge;

  constructor(@Inject(AgentConfig) config: AgentConfig) {
    const registers = [this.registry];
    this.captures = new CaptureMetrics({
      registry: this.registry,
      prefix: 'pcap_agent',
      appLabels: config.metrics.app_labels,
      bytes: false,
    });
    this.up = new Gauge({ name: 'pcap_agent_up', help: '1 while the agent accepts captures.', registers });
    this.draining = new Gauge({
      name: 'pcap_agent_draining',
      help: '1 while the agent drains captures for shutdown.',
      registers,
    });
    this.capacity = new Gauge({
      name: 'pcap_agent_max_concurrent_captures',
      help: 'Configured capture.max_concurrent.',
      registers,
    });
    this.up.set(1);
    this.draining.set(0);
    this.capacity.set(config.capture.max_concurrent);
  }

  started(origin: CaptureOrigin): void {
    this.captures.active.inc();
    this.captures.started.inc(this.labels(origin));
  }

  finished(origin: CaptureOrigin, stats: SessionStats, durationMs: number): void {
    const labels = this.labels(origin);
    const outcome =
      stats.reason === 'CLIENT_GONE'
        ? 'client_gone'
        : stats.reason === 'LIMIT_REACHED'
          ? 'limit'
          : stats.reason === 'INSTANCE_UNAVAILABLE'
            ? 'failed'
            : 'completed';
    this.captures.active.dec();
    this.captures.finished.inc({ ...labels, outcome });
    this.captures.duration.observe({ outcome }, durationMs / 1000);
    this.captures.packets.inc(labels, stats.written);
    this.captures.kernelDrops.inc(labels, stats.kernel.dropped);
    this.captures.discarded.inc({ ...labels, stage: 'agent' }, stats.discarded);
  }

  drain(): void {
    this.up.set(0);
    this.draining.set(1);
  }

  private labels(origin: CaptureOrigin): Record<string, string> {
    return this.captures.labels({ org: origin.org ?? '', space: origin.space ?? '', app: origin.app ?? '' });
  }
}
