import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  Post,
  Query,
  Req,
  UseGuards,
} from '@nestjs/common';
import type { UaaPrincipal } from '@pcap/cf';
import type { FastifyRequest } from 'fastify';

import { Principal, UaaAuthGuard } from '../auth/uaa-auth.guard';
import { BadCaptureRequestError } from '../http/api.errors';
import { requestIdOf } from '../http/request-id';
import { runView, scheduleView } from './schedule.views';
import { SchedulesService } from './schedules.service';

const ID = /^[0-9a-fA-F-]{36}$/;
const GUID = /^[0-9a-fA-F-]{8,64}$/;

function checkId(id: string): string {
  if (!ID.test(id)) throw new BadCaptureRequestError(`'${id}' is not a schedule id`);
  return id;
}

/**
 * Scheduled captures (docs/schedules.md): `POST /schedules`, `GET /schedules[?app_guid=]`, `GET /schedules/:id`,
 * `POST /schedules/:id/pause`, `POST /schedules/:id/resume`, `DELETE /schedules/:id`,
 * `GET /schedules/:id/runs[?limit=]`. Registered only when `schedules` is configured.
 */
@Controller('schedules')
@UseGuards(UaaAuthGuard)
export class SchedulesController {
  constructor(private readonly schedules: SchedulesService) {}

  @Post()
  @HttpCode(HttpStatus.CREATED)
  async create(
    @Body() body: unknown,
    @Principal() principal: UaaPrincipal,
    @Req() req: FastifyRequest,
  ): Promise<Record<string, unknown>> {
    return scheduleView(await this.schedules.create(principal, body, requestIdOf(req)));
  }

  @Get()
  async list(
    @Query('app_guid') appGuid: unknown,
    @Principal() principal: UaaPrincipal,
    @Req() req: FastifyRequest,
  ): Promise<{ resources: Array<Record<string, unknown>> }> {
    if (appGuid !== undefined && (typeof appGuid !== 'string' || !GUID.test(appGuid))) {
      throw new BadCaptureRequestError('app_guid: must be a GUID');
    }
    const list = await this.schedules.list(principal, appGuid, requestIdOf(req));
    return { resources: list.map(scheduleView) };
  }

  @Get(':id')
  async show(
    @Param('id') id: string,
    @Principal() principal: UaaPrincipal,
    @Req() req: FastifyRequest,
  ): Promise<Record<string, unknown>> {
    return scheduleView(await this.schedules.get(principal, checkId(id), requestIdOf(req)));
  }

  @Post(':id/pause')
  @HttpCode(HttpStatus.OK)
  async pause(
    @Param('id') id: string,
    @Principal() principal: UaaPrincipal,
    @Req() req: FastifyRequest,
  ): Promise<Record<string, unknown>> {
    return scheduleView(await this.schedules.pause(principal, checkId(id), requestIdOf(req)));
  }

  @Post(':id/resume')
  @HttpCode(HttpStatus.OK)
  async resume(
    @Param('id') id: string,
    @Principal() principal: UaaPrincipal,
    @Req() req: FastifyRequest,
  ): Promise<Record<string, unknown>> {
    return scheduleView(await this.schedules.resume(principal, checkId(id), requestIdOf(req)));
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  async remove(
    @Param('id') id: string,
    @Principal() principal: UaaPrincipal,
    @Req() req: FastifyRequest,
  ): Promise<void> {
    await this.schedules.delete(principal, checkId(id), requestIdOf(req));
  }

  @Get(':id/runs')
  async runs(
    @Param('id') id: string,
    @Query('limit') limit: unknown,
    @Principal() principal: UaaPrincipal,
    @Req() req: FastifyRequest,
  ): Promise<{ resources: Array<Record<string, unknown>> }> {
    let n = 100;
    if (limit !== undefined) {
      n = typeof limit === 'string' && /^\d{1,5}$/.test(limit) ? Number(limit) : 0;
      if (n < 1 || n > 10_000) throw new BadCaptureRequestError('limit: must be a number from 1 to 10000');
    }
    const runs = await this.schedules.runs(principal, checkId(id), n, requestIdOf(req));
    return { resources: runs.map(runView) };
  }
}
