import { Controller, Get, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';

import { AgentMetrics } from '../metrics/agent-metrics';

/** `GET /metrics` on the mTLS listener (for scrapers that present a client certificate the agent accepts). */
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: AgentMetrics) {}

  @Get()
  async metricsText(@Res() reply: FastifyReply): Promise<void> {
    const text = await this.metrics.registry.metrics();
    await reply.header('content-type', this.metrics.registry.contentType).send(text);
  }
}
