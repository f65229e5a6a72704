import { randomUUID } from 'node:crypto';

import { Body, Controller, Delete, HttpCode, Inject, Param, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';

import { CapturesService } from '../capture/captures.service';
import { parseCaptureRequest } from '../capture/capture-request';
import { AgentConfig } from '../config/agent-config';

export const PCAPNG_MEDIA_TYPE = 'application/x-pcapng';

@Controller('captures')
export class CapturesController {
  constructor(
    private readonly captures: CapturesService,
    @Inject(AgentConfig) private readonly config: AgentConfig,
  ) {}

  /**
   * Starts a capture and streams it as pcapng until stopped, a limit is reached or the client goes away. Every
   * option is validated before anything opens (400 with the problem, 429 at the concurrency limit).
   */
  @Post()
  async start(@Body() body: unknown, @Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const request = parseCaptureRequest(body, this.config);
    const header = req.headers['x-vcap-request-id'];
    const requestId = (Array.isArray(header) ? header[0] : header) ?? randomUUID();
    const socket = req.raw.socket;
    const session = await this.captures.start(request, {
      requestId,
      peer:
        socket.remoteAddress !== undefined && socket.localPort !== undefined
          ? { address: socket.remoteAddress, localPort: socket.localPort }
          : undefined,
    });
    // The session writes the response itself, with a callback per chunk (it lends the engine's batches to it):
    // Fastify sends nothing more. The client going away is not an error: the session aborts when the response
    // closes early.
    reply.hijack();
    reply.raw.writeHead(200, {
      'content-type': PCAPNG_MEDIA_TYPE,
      'x-capture-id': session.id,
      'x-vcap-request-id': requestId,
    });
    session.pipeTo(reply.raw);
  }

  /** Explicit stop: the capture's stream drains and ends with statistics. */
  @Delete(':id')
  @HttpCode(202)
  async stop(@Param('id') id: string): Promise<{ id: string; stopping: true }> {
    await this.captures.stop(id);
    return { id, stopping: true };
  }
}
