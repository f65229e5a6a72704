import {
  ArgumentsHost,
  Catch,
  HttpException,
  HttpStatus,
  Logger,
  type ExceptionFilter,
} from '@nestjs/common';
import { CaptureError, type CaptureErrorCode } from '@pcap/capture';
import type { FastifyReply } from 'fastify';

/** HTTP status of each domain error code; the compiler checks that every code has one. */
export const STATUS_OF_CODE: Record<CaptureErrorCode, HttpStatus> = {
  TARGET_NOT_FOUND: HttpStatus.NOT_FOUND,
  FORBIDDEN: HttpStatus.FORBIDDEN,
  INVALID_REQUEST: HttpStatus.BAD_REQUEST,
  INVALID_FILTER: HttpStatus.BAD_REQUEST,
  LIMIT_REACHED: HttpStatus.TOO_MANY_REQUESTS,
  AGENT_UNAVAILABLE: HttpStatus.SERVICE_UNAVAILABLE,
  CAPTURE_FAILED: HttpStatus.INTERNAL_SERVER_ERROR,
  SINK_FAILED: HttpStatus.BAD_GATEWAY,
};

/**
 * Maps domain errors to `{code, message}` with the status of their code; passes HTTP and framework (Fastify) 4xx
 * errors through; logs anything else with its stack and answers a plain 500. Writes only if nothing was sent yet.
 */
@Catch()
export class AgentExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger(AgentExceptionFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    let status: number;
    let body: { code: string; message: string };
    if (exception instanceof CaptureError) {
      status = STATUS_OF_CODE[exception.code];
      body = { code: exception.code, message: exception.message };
      if (status >= 500) this.logger.error(exception.message, exception.stack);
    } else if (exception instanceof HttpException) {
      status = exception.getStatus();
      body = { code: 'HTTP_' + status, message: exception.message };
    } else if (isClientError(exception)) {
      status = exception.statusCode;
      body = { code: 'INVALID_REQUEST', message: exception.message };
    } else {
      this.logger.error('unexpected error', exception instanceof Error ? exception.stack : String(exception));
      status = HttpStatus.INTERNAL_SERVER_ERROR;
      body = { code: 'INTERNAL', message: 'internal error' };
    }
    if (reply.sent || reply.raw.headersSent) return;
    void reply.status(status).send(body);
  }
}

/** Fastify's own request errors (bad JSON, unsupported media type, body too large) carry a 4xx statusCode. */
function isClientError(e: unknown): e is Error & { statusCode: number } {
  if (!(e instanceof Error) || !('statusCode' in e)) return false;
  const code = (e as { statusCode: unknown }).statusCode;
  return typeof code === 'number' && code >= 400 && code < 500;
}
