import { Controller, Get, Inject, NotFoundException, Res } from '@nestjs/common';
import { SinkHealth } from '@pcap/sinks';
import type { FastifyReply } from 'fastify';

import { ApiConfig } from '../config/api-config';
import { ApiMetrics } from './api-metrics';

/** `GET /metrics`: Prometheus text format, unauthenticated (no user data: labels are bounded, see docs/sinks.md). */
@Controller('metrics')
export class MetricsController {
  constructor(
    @Inject(ApiConfig) private readonly config: ApiConfig,
    private readonly metrics: ApiMetrics,
    private readonly sinkHealth: SinkHealth,
  ) {}

  @Get()
  async metricsText(@Res() reply: FastifyReply): Promise<void> {
    if (!this.config.metrics.enabled) throw new NotFoundException('metrics are disabled (metrics.enabled)');
    // Refreshes pcap_api_sink_up (cached states, bounded by the check timeout).
    await this.sinkHealth.states();
    const text = await this.metrics.registry.metrics();
    await reply.header('content-type', this.metrics.registry.contentType).send(text);
  }
}
