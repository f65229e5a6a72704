import { randomUUID } from 'node:crypto';

import type { FastifyInstance, FastifyRequest } from 'fastify';

export const REQUEST_ID_HEADER = 'x-vcap-request-id';
const ACCEPTABLE = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Accepts the caller's `x-vcap-request-id` (when it is a sane token) or generates one, stores it on the request
 * headers so every later stage sees the same value, and echoes it on the answer.
 */
export function installRequestId(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    const given = request.headers[REQUEST_ID_HEADER];
    const value = typeof given === 'string' && ACCEPTABLE.test(given) ? given : randomUUID();
    request.headers[REQUEST_ID_HEADER] = value;
    void reply.header(REQUEST_ID_HEADER, value);
    done();
  });
}

/** The request id set by {@link installRequestId}. */
export function requestIdOf(request: FastifyRequest): string {
  const value = request.headers[REQUEST_ID_HEADER];
  return typeof value === 'string' ? value : 'none';
}
