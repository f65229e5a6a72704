import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import { CaptureError, type CaptureErrorCode } from '@pcap/capture';
import { CfAuthError, CfError, type CfErrorCode } from '@pcap/cf';
import type { FastifyReply, FastifyRequest } from 'fastify';

import { requestIdOf } from './request-id';
import { ApiError, type ApiErrorCode } from './api.errors';

type DomainCode = CfErrorCode | CaptureErrorCode | ApiErrorCode;

/** HTTP status of every domain error code; the compiler checks that each code has one. */
export const STATUS_OF_CODE: Record<DomainCode, HttpStatus> = {
  UNAUTHENTICATED: HttpStatus.UNAUTHORIZED,
  FORBIDDEN: HttpStatus.FORBIDDEN,
  NOT_FOUND: HttpStatus.NOT_FOUND,
  UNAVAILABLE: HttpStatus.SERVICE_UNAVAILABLE,
  TARGET_NOT_FOUND: HttpStatus.NOT_FOUND,
  INVALID_REQUEST: HttpStatus.BAD_REQUEST,
  INVALID_FILTER: HttpStatus.BAD_REQUEST,
  LIMIT_REACHED: HttpStatus.TOO_MANY_REQUESTS,
  AGENT_UNAVAILABLE: HttpStatus.SERVICE_UNAVAILABLE,
  CAPTURE_FAILED: HttpStatus.INTERNAL_SERVER_ERROR,
  SINK_FAILED: HttpStatus.BAD_GATEWAY,
  BAD_REQUEST: HttpStatus.BAD_REQUEST,
  REQUEST_OVER_LIMIT: HttpStatus.BAD_REQUEST,
  TOO_MANY_CAPTURES: HttpStatus.TOO_MANY_REQUESTS,
  NO_INSTANCE_CAPTURABLE: HttpStatus.SERVICE_UNAVAILABLE,
  DRAINING: HttpStatus.SERVICE_UNAVAILABLE,
  STORED_CAPTURE_NOT_FOUND: HttpStatus.NOT_FOUND,
};

/** Body of every error answer. `reason` is set for 401s (the CfAuthReason). */
export interface ErrorBody {
  readonly code: string;
  readonly message: string;
  readonly reason?: string;
  readonly request_id?: string;
}

/**
 * Maps domain errors (`@pcap/cf`, `@pcap/capture`, the API's own) to `{code, message}` with the status of their
 * code; passes Nest HTTP exceptions and Fastify's own 4xx errors through; logs anything else with its stack and
 * answers a plain 500. Writes only if nothing was sent yet. Messages never contain tokens (the libraries
 * guarantee it for theirs; ours never include request headers).
 */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger(ApiExceptionFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const request = http.getRequest<FastifyRequest>();
    const requestId = requestIdOf(request);
    let status: number;
    let body: ErrorBody;
    if (exception instanceof CfError || exception instanceof CaptureError || exception instanceof ApiError) {
      status = STATUS_OF_CODE[exception.code];
      body = {
        code: exception.code,
        message: exception.message,
        ...(exception instanceof CfAuthError ? { reason: exception.reason } : {}),
        request_id: requestId,
      };
      if (status >= 500) this.logger.warn(`request ${requestId}: ${exception.name}: ${exception.message}`);
    } else if (exception instanceof HttpException) {
      status = exception.getStatus();
      body = { code: `HTTP_${status}`, message: exception.message, request_id: requestId };
    } else if (isClientError(exception)) {
      status = exception.statusCode;
      body = { code: 'BAD_REQUEST', message: exception.message, request_id: requestId };
    } else {
      this.logger.error(
        `request ${requestId}: unexpected error`,
        exception instanceof Error ? exception.stack : String(exception),
      );
      status = HttpStatus.INTERNAL_SERVER_ERROR;
      body = { code: 'INTERNAL', message: 'internal error', request_id: requestId };
    }
    if (reply.sent || reply.raw.headersSent) return;
    void reply.status(status).header('x-vcap-request-id', requestId).send(body);
  }
}

/** Fastify's own request errors (bad JSON, unsupported media type, body too large) carry a 4xx statusCode. */
function isClientError(e: unknown): e is Error & { statusCode: number } {
  if (!(e instanceof Error) || !('statusCode' in e)) return false;
  const code = (e as { statusCode: unknown }).statusCode;
  return typeof code === 'number' && code >= 400 && code < 500;
}
