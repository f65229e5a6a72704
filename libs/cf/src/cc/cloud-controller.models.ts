import { z } from 'zod';

import { type SecretToken } from '../uaa/secret-token';

/** Per-call context: the caller's token (passed through to CC as is) and the request id to propagate. */
export interface CcRequestContext {
  readonly token: SecretToken;
  /** Sent as `x-vcap-request-id`, so CC's logs line up with ours. */
  readonly requestId?: string;
}

const href = z.object({ href: z.string() }).nullable().optional();
const relationship = z.object({ data: z.object({ guid: z.string() }).nullable() });

export const ccRootSchema = z.object({
  links: z.object({
    self: href,
    cloud_controller_v3: z
      .object({ href: z.string(), meta: z.object({ version: z.string() }) })
      .nullable()
      .optional(),
    login: href,
    uaa: href,
    app_ssh: z
      .object({ href: z.string(), meta: z.object({ oauth_client: z.string().optional() }).optional() })
      .nullable()
      .optional(),
  }),
});

/** What `GET /` tells us. */
export interface CcRootInfo {
  /** `cloud_controller_v3.meta.version`, e.g. `3.190.0`. */
  readonly v3Version: string;
  readonly uaaUrl: string | undefined;
  readonly loginUrl: string | undefined;
}

export const ccAppSchema = z.object({
  guid: z.string(),
  name: z.string(),
  state: z.string(),
  relationships: z.object({ space: relationship }),
});

/** An app (`GET /v3/apps/:guid`), reduced to what captures need. */
export interface CcApp {
  readonly guid: string;
  readonly name: string;
  /** `STARTED` | `STOPPED`. */
  readonly state: string;
  readonly spaceGuid: string;
}

export const paginationSchema = z.object({
  total_results: z.number(),
  total_pages: z.number(),
  next: href,
});

export const permissionsSchema = z.object({ read_basic_data: z.boolean(), read_sensitive_data: z.boolean() });

/** `GET /v3/apps/:guid/permissions`. */
export interface CcAppPermissions {
  readonly readBasicData: boolean;
  /** Admin, admin read-only, or space developer of the app's space. Required to capture. */
  readonly readSensitiveData: boolean;
}

export const sshEnabledSchema = z.object({ enabled: z.boolean(), reason: z.string() });

/** `GET /v3/apps/:guid/ssh_enabled`; `reason` is CC's text (e.g. "Disabled globally"), empty when enabled. */
export interface CcSshEnabled {
  readonly enabled: boolean;
  readonly reason: string;
}

export const processSchema = z.object({ guid: z.string(), type: z.string(), instances: z.number() });

/** A process of an app (`GET /v3/apps/:guid/processes`). */
export interface CcProcess {
  readonly guid: string;
  /** `web`, `worker`, ... */
  readonly type: string;
  /** Desired instance count. */
  readonly instances: number;
}

export const CC_INSTANCE_STATES = ['RUNNING', 'CRASHED', 'STARTING', 'STOPPING', 'DOWN'] as const;
export type CcInstanceState = (typeof CC_INSTANCE_STATES)[number];

export const processStatSchema = z.object({
  type: z.string(),
  index: z.number().int().nonnegative(),
  state: z.enum(CC_INSTANCE_STATES),
  instance_guid: z.string().nullable().optional(),
  host: z.string().nullable().optional(),
  instance_internal_ip: z.string().nullable().optional(),
  uptime: z.number().nullable().optional(),
});

/**
 * One entry of `GET /v3/apps/:guid/processes/:type/stats`. DOWN entries carry only type/index/state, so every
 * location field is optional; `instanceGuid` is missing on CCs older than ~3.192, `internalIp` before ~3.149.
 */
export interface CcProcessInstance {
  readonly type: string;
  readonly index: number;
  readonly state: CcInstanceState;
  /** The Diego cell's IP, where the agent listens. */
  readonly host?: string;
  /** The Garden container handle on that cell. */
  readonly instanceGuid?: string;
  /** The container's overlay IP. */
  readonly internalIp?: string;
  readonly uptimeSeconds?: number;
}

export const namedResourceSchema = z.object({ guid: z.string(), name: z.string() });
export const spaceSchema = namedResourceSchema.extend({
  relationships: z.object({ organization: relationship }),
});

/** A space (`GET /v3/spaces/:guid`). */
export interface CcSpace {
  readonly guid: string;
  readonly name: string;
  readonly orgGuid: string;
}

/** An organization (`GET /v3/organizations/:guid`). */
export interface CcOrganization {
  readonly guid: string;
  readonly name: string;
}

export const roleSchema = z.object({
  guid: z.string(),
  type: z.string(),
  relationships: z.object({
    user: relationship,
    space: relationship.optional(),
    organization: relationship.optional(),
  }),
});

/** A role (`GET /v3/roles`). */
export interface CcRole {
  readonly guid: string;
  /** `space_developer`, `space_auditor`, `organization_manager`, ... */
  readonly type: string;
  readonly userGuid: string | undefined;
  readonly spaceGuid: string | undefined;
  readonly orgGuid: string | undefined;
}

/** Filters of `GET /v3/roles`; each list is sent comma-separated, as CC expects. */
export interface CcRoleQuery {
  readonly types?: readonly string[];
  readonly spaceGuids?: readonly string[];
  readonly userGuids?: readonly string[];
  readonly orgGuids?: readonly string[];
}

export const ccErrorBodySchema = z.object({
  errors: z.array(z.object({ code: z.number(), title: z.string(), detail: z.string() })).min(1),
});
