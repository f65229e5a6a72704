import { Inject, Injectable } from '@nestjs/common';
import {
  CaptureAuthorizer,
  type CaptureTargets,
  CaptureTargetResolver,
  CloudControllerClient,
  type UaaPrincipal,
} from '@pcap/cf';

import { ApiConfig } from '../config/api-config';
import { RequestOverLimitError } from '../http/api.errors';
import type { CaptureRequest } from './capture-request';

/**
 * Who may capture what: resolves the app (by guid or by name in a space), asks Cloud Controller with the
 * caller's token whether they may capture it (CaptureAuthorizer, with the operator's policy) and which instances
 * it has (CaptureTargetResolver). Rejects with the libraries' CfErrors (401/403/404/503) or RequestOverLimitError.
 */
@Injectable()
export class CapturePlanner {
  constructor(
    @Inject(ApiConfig) private readonly config: ApiConfig,
    private readonly cc: CloudControllerClient,
    private readonly authorizer: CaptureAuthorizer,
    private readonly resolver: CaptureTargetResolver,
  ) {}

  async plan(principal: UaaPrincipal, request: CaptureRequest, requestId: string): Promise<CaptureTargets> {
    const ctx = { token: principal.rawToken, requestId };
    const appGuid =
      request.app.kind === 'guid'
        ? request.app.appGuid
        : (await this.cc.findAppByName(ctx, request.app.spaceGuid, request.app.appName)).guid;
    const { policy } = this.config;
    const app = await this.authorizer.authorize({
      principal,
      appGuid,
      requestId,
      policy: {
        requireSshEnabled: policy.require_ssh_enabled,
        adminsOnly: policy.admins_only,
        allowReadOnlyAdmins: policy.allow_read_only_admins,
      },
    });
    const targets = await this.resolver.resolve({
      ctx,
      app,
      processType: request.processType,
      ...(request.indexes === undefined ? {} : { indexes: request.indexes }),
    });
    const limit = this.config.limits.instances_per_capture;
    if (targets.instances.length > limit) {
      throw new RequestOverLimitError(
        `App '${targets.app.name}' has ${targets.instances.length} instances of '${targets.processType}'; ` +
          `the limit limits.instances_per_capture is ${limit}: choose instances.`,
      );
    }
    return targets;
  }
}
