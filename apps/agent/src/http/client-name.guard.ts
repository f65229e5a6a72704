import type { TLSSocket } from 'node:tls';

import {
  ForbiddenException,
  Inject,
  Injectable,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

import { AgentConfig } from '../config/agent-config';

/**
 * Optional allow-list of the API's client certificate subject CN (`tls.client_common_names`). The TLS layer has
 * already verified the certificate against `tls.client_ca`; this narrows which of that CA's certificates may call.
 */
@Injectable()
export class ClientNameGuard implements CanActivate {
  constructor(@Inject(AgentConfig) private readonly config: AgentConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const allowed = this.config.tls.client_common_names;
    if (!allowed) return true;
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const socket = request.raw.socket as TLSSocket;
    const cn = socket.getPeerCertificate?.().subject?.CN;
    const name = Array.isArray(cn) ? cn[0] : cn;
    if (name === undefined || !allowed.includes(name)) {
      throw new ForbiddenException(`client certificate CN '${name ?? ''}' is not allowed`);
    }
    return true;
  }
}
