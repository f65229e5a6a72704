import { Controller, Get, HttpCode, HttpStatus, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';

import { CaptureRegistry } from '../captures/capture-registry.service';

/** `GET /health`: 200 while accepting captures, 503 while draining (so load balancers stop sending). */
@Controller('health')
export class HealthController {
  constructor(private readonly registry: CaptureRegistry) {}

  @Get()
  @HttpCode(HttpStatus.OK)
  health(@Res({ passthrough: true }) reply: FastifyReply): {
    healthy: boolean;
    state: 'healthy' | 'draining';
    activeCaptures: number;
  } {
    const draining = this.registry.isDraining;
    if (draining) void reply.status(HttpStatus.SERVICE_UNAVAILABLE);
    return {
      healthy: !draining,
      state: draining ? 'draining' : 'healthy',
      activeCaptures: this.registry.active,
    };
  }
}
