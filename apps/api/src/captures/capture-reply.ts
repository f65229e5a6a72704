import type { FastifyReply } from 'fastify';

import { REQUEST_ID_HEADER } from '../http/request-id';
import type { StartedCapture } from './capture-runner.service';

/**
 * Streams a started capture as the answer (200, its content type, `x-capture-id`). The client going away is not
 * an error: destroying the output stops every agent.
 */
export async function sendCapture(
  reply: FastifyReply,
  started: StartedCapture,
  requestId: string,
): Promise<void> {
  const { output } = started;
  reply.raw.once('close', () => {
    if (!output.readableEnded) output.destroy();
  });
  await reply
    .status(200)
    .header('content-type', started.contentType)
    .header('x-capture-id', started.id)
    .header(REQUEST_ID_HEADER, requestId)
    .send(output);
}
