import {
  Body,
  Controller,
  Delete,
  HttpCode,
  HttpStatus,
  Inject,
  Param,
  Post,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import type { UaaPrincipal } from '@pcap/cf';
import type { FastifyReply, FastifyRequest } from 'fastify';

import { Principal } from '../auth/uaa-auth.guard';
import { planForBosh } from '../captures/capture-plan';
import { CaptureRegistry } from '../captures/capture-registry.service';
import { sendCapture } from '../captures/capture-reply';
import { CaptureRunner } from '../captures/capture-runner.service';
import { EXCLUDED_ADDRESSES } from '../captures/excluded-addresses';
import { ApiConfig } from '../config/api-config';
import { RequestOverLimitError } from '../http/api.errors';
import { requestIdOf } from '../http/request-id';
import { BoshAccess } from './bosh-access.service';
import { BoshAuthGuard } from './bosh-auth.guard';
import { parseBoshCaptureBody } from './bosh-capture-request';

/**
 * BOSH mode: `POST /bosh/captures` captures a device of the VMs of a deployment's instance groups (the agent on
 * each VM, in its own namespace), merged into one stream as for apps. Order: BOSH token (guard) → request
 * validated and filter compiled → the director lists the instances with the user's token → concurrency slot →
 * agents. `DELETE /bosh/captures/{id}` stops one gracefully. BOSH users are counted apart from CF users.
 */
@Controller('bosh')
@UseGuards(BoshAuthGuard)
export class BoshCapturesController {
  constructor(
    @Inject(ApiConfig) private readonly config: ApiConfig,
    @Inject(EXCLUDED_ADDRESSES) private readonly excluded: readonly string[],
    private readonly bosh: BoshAccess,
    private readonly registry: CaptureRegistry,
    private readonly runner: CaptureRunner,
  ) {}

  @Post('captures')
  async start(
    @Body() body: unknown,
    @Principal() principal: UaaPrincipal,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const request = parseBoshCaptureBody(body, this.config, this.excluded);
    const requestId = requestIdOf(req);
    const targets = await this.bosh.targets(
      principal,
      request.deployment,
      request.groups,
      request.ids,
      requestId,
    );
    const limit = this.config.limits.instances_per_capture;
    if (targets.length > limit) {
      throw new RequestOverLimitError(
        `Deployment '${request.deployment}' has ${targets.length} instances in ${request.groups.join(', ')}; ` +
          `the limit limits.instances_per_capture is ${limit}: choose instances.`,
      );
    }
    const plan = planForBosh(request.deployment, request.groups, targets);
    const started = await this.runner.reserveAndStart(boshOwner(principal), request, plan, requestId);
    await sendCapture(reply, started, requestId);
  }

  @Delete('captures/:id')
  @HttpCode(HttpStatus.ACCEPTED)
  stop(@Param('id') id: string, @Principal() principal: UaaPrincipal): { id: string; status: 'stopping' } {
    this.registry.stop(id, boshOwner(principal).userId);
    return { id, status: 'stopping' };
  }
}

/** A BOSH user, kept apart from CF users of the same id (another UAA) in limits, stops and audit events. */
function boshOwner(principal: UaaPrincipal): UaaPrincipal {
  return { ...principal, userId: `bosh:${principal.userId}` };
}
