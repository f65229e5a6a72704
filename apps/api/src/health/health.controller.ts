import { Controller, Get, HttpCode, HttpStatus, Inject, Res } from '@nestjs/common';
import { SinkHealth, type SinkState } from '@pcap/sinks';
import type { FastifyReply } from 'fastify';

import { CaptureRegistry } from '../captures/capture-registry.service';
import { ApiConfig } from '../config/api-config';

/** One configured storage sink in the `/health` answer. */
export interface SinkHealthView {
  readonly name: string;
  readonly kind: string;
  readonly status: 'ok' | 'error';
  /** Only with `health.show_sink_reasons` (the API's log has it either way). */
  readonly reason?: string;
  readonly checkedAt: string;
}

export interface HealthView {
  /** False only while draining: a sink that fails degrades the API, it does not make it unhealthy. */
  readonly healthy: boolean;
  readonly state: 'healthy' | 'degraded' | 'draining';
  readonly activeCaptures: number;
  readonly sinks: readonly SinkHealthView[];
}

/**
 * `GET /health`: 200 while accepting captures, 503 while draining (so load balancers stop sending). A storage sink
 * whose check fails makes the state `degraded` (still 200: live captures work, the API must not be restarted or
 * taken out of rotation for a bucket's sake); each sink's state comes from {@link SinkHealth} (cached, bounded by
 * its timeout, so this answer never hangs on S3). The endpoint is unauthenticated, so why a sink failed (which can
 * name buckets, hosts and addresses) is shown only when `health.show_sink_reasons` is on; it is logged regardless.
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly registry: CaptureRegistry,
    private readonly sinkHealth: SinkHealth,
    @Inject(ApiConfig) private readonly config: ApiConfig,
  ) {}

  @Get()
  @HttpCode(HttpStatus.OK)
  async health(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthView> {
    const sinks = await this.sinkHealth.states();
    const draining = this.registry.isDraining;
    if (draining) void reply.status(HttpStatus.SERVICE_UNAVAILABLE);
    const degraded = sinks.some((s) => s.status !== 'ok');
    return {
      healthy: !draining,
      state: draining ? 'draining' : degraded ? 'degraded' : 'healthy',
      activeCaptures: this.registry.active,
      sinks: sinks.map((s) => view(s, this.config.health.show_sink_reasons)),
    };
  }
}

function view(s: SinkState, showReason: boolean): SinkHealthView {
  return {
    name: s.name,
    kind: s.kind,
    status: s.status,
    ...(s.reason === undefined || !showReason ? {} : { reason: s.reason }),
    checkedAt: s.checkedAt.toISOString(),
  };
}
