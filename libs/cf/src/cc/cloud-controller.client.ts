import { z } from 'zod';

import { CfAuthError, CfForbiddenError, CfNotFoundError, CfUnavailableError } from '../errors/cf.error';
import { type HttpEndpointOptions, type HttpJsonResponse, JsonHttpClient } from '../http/json-http.client';
import {
  type CcApp,
  type CcAppPermissions,
  ccAppSchema,
  ccErrorBodySchema,
  type CcOrganization,
  type CcProcess,
  type CcProcessInstance,
  type CcRequestContext,
  type CcRole,
  type CcRoleQuery,
  type CcRootInfo,
  ccRootSchema,
  type CcSpace,
  type CcSshEnabled,
  namedResourceSchema,
  paginationSchema,
  permissionsSchema,
  processSchema,
  processStatSchema,
  roleSchema,
  spaceSchema,
  sshEnabledSchema,
} from './cloud-controller.models';

/** Upper bound on pages followed for one list, against a CC (or proxy) that keeps answering with `next`. */
const MAX_PAGES = 200;
const SYSTEM = 'Cloud Controller';

/**
 * Cloud Controller v3, called with the user's own token so CC applies its own visibility and role rules.
 * The only seam through which this project talks to CC. Every call maps CC's `{"errors":[…]}` bodies:
 * 401 → {@link CfAuthError} (`rejected_by_upstream`), 403 → {@link CfForbiddenError}, 404 →
 * {@link CfNotFoundError}, network failure, timeout, 5xx or an unreadable body → {@link CfUnavailableError}.
 * Pagination links are followed only on CC's own origin, so a token never leaves for another host.
 */
export class CloudControllerClient {
  private readonly http: JsonHttpClient;

  constructor(options: HttpEndpointOptions) {
    this.http = new JsonHttpClient(SYSTEM, options);
  }

  get url(): string {
    return this.http.origin;
  }

  /** `GET /` (no auth): v3 version, UAA and login URLs. */
  async root(requestId?: string): Promise<CcRootInfo> {
    const body = this.parse(
      await this.http.request({ path: '/', requestId }),
      ccRootSchema,
      'the root document',
    );
    const v3 = body.links.cloud_controller_v3;
    if (v3 === undefined || v3 === null) {
      throw new CfUnavailableError(SYSTEM, `${SYSTEM} at ${this.url} does not offer the v3 API`);
    }
    return { v3Version: v3.meta.version, uaaUrl: body.links.uaa?.href, loginUrl: body.links.login?.href };
  }

  /** `GET /v3/apps/:guid`. 404 (unknown or invisible to this user) → CfNotFoundError. */
  async getApp(ctx: CcRequestContext, appGuid: string): Promise<CcApp> {
    const res = await this.get(ctx, `/v3/apps/${encodeURIComponent(appGuid)}`);
    return toApp(this.parse(res, ccAppSchema, 'an app', `App '${appGuid}' not found.`));
  }

  /** `GET /v3/apps?names=&space_guids=` (CC matches names case-insensitively). None → CfNotFoundError. */
  async findAppByName(ctx: CcRequestContext, spaceGuid: string, name: string): Promise<CcApp> {
    const q = new URLSearchParams({ names: name, space_guids: spaceGuid });
    const apps = await this.list(ctx, `/v3/apps?${q.toString()}`, ccAppSchema);
    const app = apps[0];
    if (app === undefined) throw new CfNotFoundError(`App '${name}' not found in space '${spaceGuid}'.`);
    return toApp(app);
  }

  /** `GET /v3/apps/:guid/permissions`. */
  async getAppPermissions(ctx: CcRequestContext, appGuid: string): Promise<CcAppPermissions> {
    const res = await this.get(ctx, `/v3/apps/${encodeURIComponent(appGuid)}/permissions`);
    const p = this.parse(res, permissionsSchema, 'app permissions', `App '${appGuid}' not found.`);
    return { readBasicData: p.read_basic_data, readSensitiveData: p.read_sensitive_data };
  }

  /** `GET /v3/apps/:guid/ssh_enabled`. */
  async getSshEnabled(ctx: CcRequestContext, appGuid: string): Promise<CcSshEnabled> {
    const res = await this.get(ctx, `/v3/apps/${encodeURIComponent(appGuid)}/ssh_enabled`);
    return this.parse(res, sshEnabledSchema, 'ssh_enabled', `App '${appGuid}' not found.`);
  }

  /** `GET /v3/apps/:guid/processes` (all pages). */
  async listProcesses(ctx: CcRequestContext, appGuid: string): Promise<CcProcess[]> {
    const processes = await this.list(
      ctx,
      `/v3/apps/${encodeURIComponent(appGuid)}/processes`,
      processSchema,
    );
    return processes.map((p) => ({ guid: p.guid, type: p.type, instances: p.instances }));
  }

  /**
   * `GET /v3/apps/:guid/processes/:type/stats`: one entry per index, DOWN ones included. 404 when the app
   * is invisible or has no process of this type.
   */
  async getProcessStats(
    ctx: CcRequestContext,
    appGuid: string,
    processType: string,
  ): Promise<CcProcessInstance[]> {
    const path = `/v3/apps/${encodeURIComponent(appGuid)}/processes/${encodeURIComponent(processType)}/stats`;
    const res = await this.get(ctx, path);
    const body = this.parse(
      res,
      z.object({ resources: z.array(processStatSchema) }),
      'process stats',
      `App '${appGuid}' has no process of type '${processType}'.`,
    );
    return body.resources.map((r) => ({
      type: r.type,
      index: r.index,
      state: r.state,
      ...(r.host ? { host: r.host } : {}),
      ...(r.instance_guid ? { instanceGuid: r.instance_guid } : {}),
      ...(r.instance_internal_ip ? { internalIp: r.instance_internal_ip } : {}),
      ...(typeof r.uptime === 'number' ? { uptimeSeconds: r.uptime } : {}),
    }));
  }

  /** `GET /v3/spaces/:guid`. */
  async getSpace(ctx: CcRequestContext, spaceGuid: string): Promise<CcSpace> {
    const res = await this.get(ctx, `/v3/spaces/${encodeURIComponent(spaceGuid)}`);
    const s = this.parse(res, spaceSchema, 'a space', `Space '${spaceGuid}' not found.`);
    const orgGuid = s.relationships.organization.data?.guid;
    if (orgGuid === undefined) throw this.unreadable('a space without an organization');
    return { guid: s.guid, name: s.name, orgGuid };
  }

  /** `GET /v3/organizations/:guid`. */
  async getOrganization(ctx: CcRequestContext, orgGuid: string): Promise<CcOrganization> {
    const res = await this.get(ctx, `/v3/organizations/${encodeURIComponent(orgGuid)}`);
    const o = this.parse(res, namedResourceSchema, 'an organization', `Organization '${orgGuid}' not found.`);
    return { guid: o.guid, name: o.name };
  }

  /** `GET /v3/roles?types=&space_guids=&user_guids=` with every page followed. */
  async listRoles(ctx: CcRequestContext, query: CcRoleQuery): Promise<CcRole[]> {
    const q = new URLSearchParams();
    if (query.types) q.set('types', query.types.join(','));
    if (query.spaceGuids) q.set('space_guids', query.spaceGuids.join(','));
    if (query.orgGuids) q.set('organization_guids', query.orgGuids.join(','));
    if (query.userGuids) q.set('user_guids', query.userGuids.join(','));
    const roles = await this.list(ctx, `/v3/roles?${q.toString()}`, roleSchema);
    return roles.map((r) => ({
      guid: r.guid,
      type: r.type,
      userGuid: r.relationships.user.data?.guid,
      spaceGuid: r.relationships.space?.data?.guid,
      orgGuid: r.relationships.organization?.data?.guid,
    }));
  }

  /** Whether `userGuid` is a space developer of `spaceGuid` (needs a token that may list that space's roles). */
  async isSpaceDeveloper(ctx: CcRequestContext, spaceGuid: string, userGuid: string): Promise<boolean> {
    const roles = await this.listRoles(ctx, {
      types: ['space_developer'],
      spaceGuids: [spaceGuid],
      userGuids: [userGuid],
    });
    return roles.length > 0;
  }

  close(): void {
    this.http.close();
  }

  private get(ctx: CcRequestContext, path: string): Promise<HttpJsonResponse> {
    return this.http.request({ path, token: ctx.token, requestId: ctx.requestId });
  }

  private async list<T>(ctx: CcRequestContext, firstPath: string, item: z.ZodType<T>): Promise<T[]> {
    const pageSchema = z.object({ pagination: paginationSchema, resources: z.array(item) });
    const out: T[] = [];
    let path: string | undefined = firstPath;
    for (let page = 0; path !== undefined; page += 1) {
      if (page >= MAX_PAGES) throw this.unreadable(`a list longer than ${MAX_PAGES} pages`);
      const res: HttpJsonResponse = await this.get(ctx, path);
      const body: { pagination: { next?: { href: string } | null }; resources: T[] } = this.parse(
        res,
        pageSchema,
        'a list',
      );
      out.push(...body.resources);
      path = body.pagination.next?.href;
    }
    return out;
  }

  private parse<T>(res: HttpJsonResponse, schema: z.ZodType<T>, what: string, notFound?: string): T {
    if (res.status >= 200 && res.status < 300) {
      const parsed = schema.safeParse(res.body);
      if (parsed.success) return parsed.data;
      throw this.unreadable(what);
    }
    const err = ccErrorBodySchema.safeParse(res.body);
    const first = err.success ? err.data.errors[0] : undefined;
    const detail = first === undefined ? `HTTP ${res.status}` : `${first.title}: ${first.detail}`;
    if (res.status === 401) {
      throw new CfAuthError('rejected_by_upstream', `${SYSTEM} did not accept the access token (${detail}).`);
    }
    if (res.status === 403) throw new CfForbiddenError(`${SYSTEM} refused: ${first?.detail ?? detail}.`);
    if (res.status === 404)
      throw new CfNotFoundError(notFound ?? `${SYSTEM}: ${first?.detail ?? 'not found'}.`);
    if (res.status >= 500) {
      throw new CfUnavailableError(
        SYSTEM,
        `${SYSTEM} at ${this.url} failed while reading ${what} (${detail}).`,
      );
    }
    throw new CfUnavailableError(
      SYSTEM,
      `${SYSTEM} at ${this.url} rejected the request for ${what} (${detail}).`,
    );
  }

  private unreadable(what: string): CfUnavailableError {
    return new CfUnavailableError(SYSTEM, `${SYSTEM} at ${this.url} returned ${what} we cannot read.`);
  }
}

function toApp(a: z.infer<typeof ccAppSchema>): CcApp {
  const spaceGuid = a.relationships.space.data?.guid ?? '';
  return { guid: a.guid, name: a.name, state: a.state, spaceGuid };
}
