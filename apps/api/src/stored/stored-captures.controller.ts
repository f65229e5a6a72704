import { Controller, Get, Inject, Param, Query, Req, Res, UseGuards } from '@nestjs/common';
import type { UaaPrincipal } from '@pcap/cf';
import { PCAPNG_CONTENT_TYPE } from '@pcap/sinks';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';

import { Principal, UaaAuthGuard } from '../auth/uaa-auth.guard';
import { CaptureAuditLog } from '../captures/capture-audit.log';
import { BadCaptureRequestError } from '../http/api.errors';
import { REQUEST_ID_HEADER, requestIdOf } from '../http/request-id';
import { StoredCaptures } from './stored-captures.service';

const GUID = /^[0-9a-fA-F-]{8,64}$/;
const listQuery = z.strictObject({
  app_guid: z.string().regex(GUID, 'must be a GUID'),
  sink: z.string().min(1).max(63),
});
const objectQuery = listQuery.extend({ presign: z.enum(['true', 'false']).optional() });
const objectParams = z.strictObject({
  captureId: z.string().regex(/^[0-9a-fA-F-]{36}$/, 'must be a capture id'),
  part: z.string().regex(/^\d{1,6}$/, 'must be a part number'),
});

function parse<T>(schema: z.ZodType<T>, raw: unknown): T {
  const r = schema.safeParse(raw ?? {});
  if (!r.success) {
    throw new BadCaptureRequestError(
      r.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; '),
    );
  }
  return r.data;
}

/**
 * Captures stored in S3 sinks: `GET /stored-captures?app_guid=&sink=` lists them (by capture id, with their parts);
 * `GET /stored-captures/:captureId/:part?app_guid=&sink=` streams one object, or with `presign=true` answers a
 * short-lived presigned URL. Only for users who may capture the app; anyone else gets 403.
 */
@Controller('stored-captures')
@UseGuards(UaaAuthGuard)
export class StoredCapturesController {
  constructor(
    private readonly stored: StoredCaptures,
    @Inject(CaptureAuditLog) private readonly audit: CaptureAuditLog,
  ) {}

  @Get()
  async list(
    @Query() query: unknown,
    @Principal() principal: UaaPrincipal,
    @Req() req: FastifyRequest,
  ): Promise<{ app_guid: string; sink: string; captures: unknown[] }> {
    const q = parse(listQuery, query);
    const captures = await this.stored.list(principal, q.app_guid, q.sink, requestIdOf(req));
    return { app_guid: q.app_guid, sink: q.sink, captures };
  }

  @Get(':captureId/:part')
  async object(
    @Param() params: unknown,
    @Query() query: unknown,
    @Principal() principal: UaaPrincipal,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const p = parse(objectParams, params);
    const q = parse(objectQuery, query);
    const requestId = requestIdOf(req);
    const part = Number(p.part);
    const record = (key: string, how: string): void =>
      this.audit.record({
        event: 'capture.download',
        request_id: requestId,
        capture_id: p.captureId,
        user: principal.userName,
        user_id: principal.userId,
        app_guid: q.app_guid,
        sink: q.sink,
        object: key,
        outcome: how,
      });
    if (q.presign === 'true') {
      const signed = await this.stored.presign(principal, q.app_guid, q.sink, p.captureId, part, requestId);
      record(signed.key, 'presigned');
      await reply
        .header(REQUEST_ID_HEADER, requestId)
        .send({ url: signed.url, expires_in_seconds: signed.expiresIn });
      return;
    }
    const download = await this.stored.download(principal, q.app_guid, q.sink, p.captureId, part, requestId);
    record(download.key, 'streamed');
    reply
      .header('content-type', PCAPNG_CONTENT_TYPE)
      .header(
        'content-disposition',
        `attachment; filename="${p.captureId}-${p.part.padStart(6, '0')}.pcapng"`,
      )
      .header(REQUEST_ID_HEADER, requestId);
    if (download.size !== undefined) reply.header('content-length', String(download.size));
    await reply.send(download.body);
  }
}
