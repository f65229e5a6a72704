import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';

import type { AuthenticatedRequest } from '../auth/uaa-auth.guard';
import { requestIdOf } from '../http/request-id';
import { BoshAccess } from './bosh-access.service';

/**
 * Requires a valid token of the BOSH director's UAA with one of `bosh.token_scopes` (BOSH mode). Rejections
 * propagate as CfAuthError (401 with its reason) or CfUnavailableError (director or its UAA down, 503). The
 * principal is attached for `@Principal()`.
 */
@Injectable()
export class BoshAuthGuard implements CanActivate {
  constructor(private readonly bosh: BoshAccess) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    request.principal = await this.bosh.authenticate(request.headers.authorization, requestIdOf(request));
    return true;
  }
}
