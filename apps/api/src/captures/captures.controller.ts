import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Inject,
  Param,
  Post,
  Query,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import type { UaaPrincipal } from '@pcap/cf';
import type { FastifyReply, FastifyRequest } from 'fastify';

import { Principal, UaaAuthGuard } from '../auth/uaa-auth.guard';
import { ApiConfig } from '../config/api-config';
import { requestIdOf } from '../http/request-id';
import { sendCapture } from './capture-reply';
import { planForApp } from './capture-plan';
import { CapturePlanner } from './capture-planner.service';
import { CaptureRegistry } from './capture-registry.service';
import { type CaptureRequest, parseCaptureBody, parseSeedQuery } from './capture-request';
import { CaptureRunner } from './capture-runner.service';
import { EXCLUDED_ADDRESSES } from './excluded-addresses';

/**
 * `POST /captures` (JSON, pcapng or pcap) and the seed's `GET /capture?appid=…` (classic pcap). Order: token
 * (guard) → request validated and filter compiled → Cloud Controller (may the caller capture this app? which
 * instances?) → concurrency slot → agents. The answer streams until every agent ended, a limit is reached or the
 * client goes away (which stops every agent).
 */
@Controller()
@UseGuards(UaaAuthGuard)
export class CapturesController {
  constructor(
    @Inject(ApiConfig) private readonly config: ApiConfig,
    @Inject(EXCLUDED_ADDRESSES) private readonly excluded: readonly string[],
    private readonly planner: CapturePlanner,
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
    const request = parseCaptureBody(body, this.config, this.excluded);
    await this.run(principal, request, req, reply);
  }

  /**
   * Graceful stop of a running capture by the user who started it: every agent drains what it captured and ends
   * with statistics; the capture's stream then ends with a CAPTURE_STOPPED message. 404 for an unknown id or
   * another user's capture.
   */
  @Delete('captures/:id')
  @HttpCode(HttpStatus.ACCEPTED)
  stop(@Param('id') id: string, @Principal() principal: UaaPrincipal): { id: string; status: 'stopping' } {
    this.registry.stop(id, principal.userId);
    return { id, status: 'stopping' };
  }

  @Get('capture')
  async seed(
    @Query() query: unknown,
    @Principal() principal: UaaPrincipal,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const request = parseSeedQuery(query, this.config, this.excluded);
    await this.run(principal, request, req, reply);
  }

  private async run(
    principal: UaaPrincipal,
    request: CaptureRequest,
    req: FastifyRequest,
    reply: FastifyReply,
  ): Promise<void> {
    const requestId = requestIdOf(req);
    const targets = await this.planner.plan(principal, request, requestId);
    const started = await this.runner.reserveAndStart(principal, request, planForApp(targets), requestId);
    await sendCapture(reply, started, requestId);
  }
}
