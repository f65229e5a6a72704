import { type SecretToken } from './secret-token';

/** CF scopes with a meaning for authorisation. */
export const CF_SCOPES = {
  read: 'cloud_controller.read',
  write: 'cloud_controller.write',
  admin: 'cloud_controller.admin',
  adminReadOnly: 'cloud_controller.admin_read_only',
  globalAuditor: 'cloud_controller.global_auditor',
} as const;

/**
 * Who made a request, from a validated UAA access token. Safe to log except `rawToken`, which is a
 * {@link SecretToken} (prints as `[redacted token]`) and exists only to call Cloud Controller on the user's behalf.
 */
export interface UaaPrincipal {
  /** `user_id`; for a client-credentials token (no user) the `sub`, which UAA sets to the client id. */
  readonly userId: string;
  /** `user_name`; the client id for a client-credentials token. */
  readonly userName: string;
  readonly email?: string;
  /** `client_id` (or `cid`): `cf` for the cf CLI. */
  readonly clientId: string;
  /** `true` for a client-credentials token (no `user_id` claim). */
  readonly isClient: boolean;
  readonly scopes: readonly string[];
  /** Scope `cloud_controller.admin`. */
  readonly isAdmin: boolean;
  /** Scope `cloud_controller.admin_read_only` without `cloud_controller.admin`. */
  readonly isAdminReadOnly: boolean;
  /** Scope `cloud_controller.global_auditor`. */
  readonly isGlobalAuditor: boolean;
  readonly issuer: string;
  readonly expiresAt: Date;
  /** SECRET: the bearer token itself. Redacted when printed; `reveal()` only for outgoing upstream calls. */
  readonly rawToken: SecretToken;
}
