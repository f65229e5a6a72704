import { CfForbiddenError } from '../errors/cf.error';
import { type UaaPrincipal } from '../uaa/uaa-principal.model';
import { CloudControllerClient } from './cloud-controller.client';
import { type CcApp } from './cloud-controller.models';

/** Operator switches for who may capture (all off by default: space developers and admins may). */
export interface CapturePolicy {
  /** Also require `GET /v3/apps/:guid/ssh_enabled` to say `enabled`, like `cf ssh`. */
  readonly requireSshEnabled: boolean;
  /** Only `cloud_controller.admin` (and read-only admins, if allowed) may capture. */
  readonly adminsOnly: boolean;
  /**
   * Let `cloud_controller.admin_read_only` users capture apps they are not space developers of. Off by default:
   * a capture exposes secrets, which "read-only" should not mean.
   */
  readonly allowReadOnlyAdmins: boolean;
}

export const DEFAULT_CAPTURE_POLICY: CapturePolicy = {
  requireSshEnabled: false,
  adminsOnly: false,
  allowReadOnlyAdmins: false,
};

export interface CaptureAuthorizationRequest {
  readonly principal: UaaPrincipal;
  readonly appGuid: string;
  readonly policy: CapturePolicy;
  readonly requestId?: string;
}

/**
 * Decides whether a principal may capture an app's traffic, asking Cloud Controller with the principal's own
 * token. Resolves the app when allowed; otherwise rejects with CfNotFoundError (app not visible: CC hides
 * existence), CfForbiddenError (with a reason a person can act on), CfAuthError or CfUnavailableError from CC.
 *
 * Order: app visible → `read_sensitive_data` → read-only admin rule → admins-only rule → ssh_enabled gate.
 */
export class CaptureAuthorizer {
  constructor(private readonly cc: CloudControllerClient) {}

  async authorize(req: CaptureAuthorizationRequest): Promise<CcApp> {
    const { principal, policy } = req;
    const ctx = { token: principal.rawToken, requestId: req.requestId };
    const app = await this.cc.getApp(ctx, req.appGuid);
    const permissions = await this.cc.getAppPermissions(ctx, app.guid);
    if (!permissions.readSensitiveData) {
      throw new CfForbiddenError(
        `You may see app '${app.name}' but not capture its traffic: that needs the space developer role in its space ` +
          '(or admin), because a capture can expose secrets.',
      );
    }
    const adminReadOnlyOnly = principal.isAdminReadOnly && !principal.isAdmin;
    if (adminReadOnlyOnly && !policy.allowReadOnlyAdmins) {
      // CC grants read_sensitive_data to read-only admins; a capture is more than reading, unless they are a
      // space developer there anyway.
      const developer = await this.cc.isSpaceDeveloper(ctx, app.spaceGuid, principal.userId);
      if (!developer) {
        throw new CfForbiddenError(
          `Read-only admins may not capture traffic of app '${app.name}' (the operator has not allowed it); ` +
            'a space developer of its space or an admin can.',
        );
      }
    }
    if (policy.adminsOnly && !(principal.isAdmin || (adminReadOnlyOnly && policy.allowReadOnlyAdmins))) {
      throw new CfForbiddenError('The operator has restricted packet capture to Cloud Foundry admins.');
    }
    if (policy.requireSshEnabled) {
      const ssh = await this.cc.getSshEnabled(ctx, app.guid);
      if (!ssh.enabled) {
        throw new CfForbiddenError(
          `Packet capture requires SSH access to app '${app.name}', and SSH is not enabled: ${ssh.reason || 'no reason given'}.`,
        );
      }
    }
    return app;
  }
}
