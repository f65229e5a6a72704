import { type CanActivate, createParamDecorator, type ExecutionContext, Injectable } from '@nestjs/common';
import { type UaaPrincipal, UaaTokenValidator } from '@pcap/cf';
import type { FastifyRequest } from 'fastify';

export type AuthenticatedRequest = FastifyRequest & { principal?: UaaPrincipal };

/**
 * Requires a valid UAA access token (`Authorization: bearer …`, checked by UaaTokenValidator exactly as Cloud
 * Controller does). Rejections propagate as CfAuthError (401 with its reason) or CfUnavailableError (UAA down, 503).
 * The principal is attached to the request for {@link Principal}.
 */
@Injectable()
export class UaaAuthGuard implements CanActivate {
  constructor(private readonly validator: UaaTokenValidator) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    request.principal = await this.validator.validateHeader(request.headers.authorization);
    return true;
  }
}

/** The UaaPrincipal of a request that passed {@link UaaAuthGuard} (or BoshAuthGuard). */
export const Principal = createParamDecorator((_data: unknown, context: ExecutionContext): UaaPrincipal => {
  const principal = context.switchToHttp().getRequest<AuthenticatedRequest>().principal;
  if (principal === undefined) throw new Error('Principal used on a route without UaaAuthGuard');
  return principal;
});
