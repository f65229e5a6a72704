/**
 * A Cloud Controller v3 for tests and the local demo: a real HTTP server on 127.0.0.1 following
 * reference/cloud-controller-v3.md — root document, resource shapes, `{"errors":[…]}` bodies and codes,
 * existence hidden behind 404, filtered lists simply empty, stats with minimal DOWN entries, permissions by role,
 * ssh_enabled with CC's reasons, roles with pagination. Bearer tokens are checked against the UAA double's
 * published keys and issuer (audience `cloud_controller`), so an invalid token gets CC's 401 body.
 * The model is plain data that tests may change at any time; faults come from {@link HttpDouble}.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

import { bearerOf, type DoubleReply, HttpDouble, type UaaDouble } from './uaa-double';

export type CcDoubleInstanceState = 'RUNNING' | 'CRASHED' | 'STARTING' | 'STOPPING' | 'DOWN';

export interface CcDoubleInstance {
  readonly state: CcDoubleInstanceState;
  /** Diego cell IP. Default `10.244.16.10`. */
  readonly host?: string;
  /** Garden container handle. Default: a fresh GUID. */
  readonly instanceGuid?: string;
  /** Overlay IP. Default `10.255.0.<index+1>`. */
  readonly internalIp?: string;
}

export interface CcDoubleProcess {
  readonly type: string;
  readonly guid?: string;
  readonly instances: CcDoubleInstance[];
}

export interface CcDoubleApp {
  readonly guid: string;
  readonly name: string;
  readonly spaceGuid: string;
  state?: 'STARTED' | 'STOPPED';
  /** `enable_ssh` of the app; default true. */
  enableSsh?: boolean;
  readonly processes: CcDoubleProcess[];
}

export interface CcDoubleSpace {
  readonly guid: string;
  readonly name: string;
  readonly orgGuid: string;
  /** `allow_ssh` of the space; default true. */
  allowSsh?: boolean;
}

export interface CcDoubleOrg {
  readonly guid: string;
  readonly name: string;
}

export type CcDoubleRoleType =
  | 'space_developer'
  | 'space_manager'
  | 'space_auditor'
  | 'space_supporter'
  | 'organization_manager'
  | 'organization_auditor'
  | 'organization_billing_manager'
  | 'organization_user';

export interface CcDoubleRole {
  readonly type: CcDoubleRoleType;
  /** UAA `user_id` (or the client id of a client-credentials token). */
  readonly userGuid: string;
  readonly spaceGuid?: string;
  readonly orgGuid?: string;
}

/** The foundation the double serves. */
export interface CcDoubleModel {
  orgs: CcDoubleOrg[];
  spaces: CcDoubleSpace[];
  apps: CcDoubleApp[];
  roles: CcDoubleRole[];
  /** Global `allow_ssh` of the foundation; default true. */
  sshEnabledGlobally?: boolean;
  /** `cloud_controller_v3.meta.version`; `instance_guid` is served from 3.192, `instance_internal_ip` from 3.149. */
  v3Version?: string;
}

export interface CcDoubleOptions {
  readonly uaa: UaaDouble;
  readonly model: CcDoubleModel;
}

const READ_SCOPES = [
  'cloud_controller.read',
  'cloud_controller.admin',
  'cloud_controller.admin_read_only',
  'cloud_controller.global_auditor',
];
const SPACE_ROLES: readonly CcDoubleRoleType[] = [
  'space_developer',
  'space_manager',
  'space_auditor',
  'space_supporter',
];

interface Caller {
  readonly userGuid: string;
  readonly admin: boolean;
  readonly adminReadOnly: boolean;
  readonly globalAuditor: boolean;
}

function ccError(status: number, code: number, title: string, detail: string): DoubleReply {
  return { status, body: { errors: [{ detail, title, code }] } };
}

const notFound = (what: string): DoubleReply =>
  ccError(404, 10010, 'CF-ResourceNotFound', `${what} not found`);

function versionAtLeast(version: string, minimum: string): boolean {
  const a = version.split('.').map(Number);
  const b = minimum.split('.').map(Number);
  for (let i = 0; i < 3; i += 1) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}

export class CcDouble extends HttpDouble {
  readonly model: CcDoubleModel;
  private readonly uaa: UaaDouble;
  private readonly guids = new Map<object, string>();

  private constructor(options: CcDoubleOptions) {
    super((req, _body, url) => this.route(req, url));
    this.uaa = options.uaa;
    this.model = options.model;
  }

  static async start(options: CcDoubleOptions): Promise<CcDouble> {
    const cc = new CcDouble(options);
    await cc.listen();
    return cc;
  }

  private route(req: IncomingMessage, url: URL): DoubleReply {
    if (req.method !== 'GET') return ccError(404, 10000, 'CF-NotFound', 'Unknown request');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (path === '/') return { status: 200, body: this.rootDocument() };
    if (!path.startsWith('/v3/')) return ccError(404, 10000, 'CF-NotFound', 'Unknown request');

    const token = bearerOf(req);
    if (token === undefined) return ccError(401, 10002, 'CF-NotAuthenticated', 'Authentication error');
    const verdict = this.uaa.verify(token);
    const aud = verdict.ok ? verdict.claims.aud : undefined;
    const audList = Array.isArray(aud) ? aud : typeof aud === 'string' ? [aud] : [];
    if (!verdict.ok || !audList.includes('cloud_controller')) {
      return ccError(401, 1000, 'CF-InvalidAuthToken', 'Invalid Auth Token');
    }
    const scopeClaim: unknown = verdict.claims.scope;
    const scopes = Array.isArray(scopeClaim) ? scopeClaim.map(String) : [];
    if (!scopes.some((s) => READ_SCOPES.includes(s))) {
      return ccError(
        403,
        10007,
        'CF-InsufficientScope',
        'Your token lacks the necessary scopes to access this resource.',
      );
    }
    const userGuid = String(verdict.claims.user_id ?? verdict.claims.client_id ?? verdict.claims.sub);
    const caller: Caller = {
      userGuid,
      admin: scopes.includes('cloud_controller.admin'),
      adminReadOnly: scopes.includes('cloud_controller.admin_read_only'),
      globalAuditor: scopes.includes('cloud_controller.global_auditor'),
    };
    return this.v3(caller, path.split('/').slice(2), url);
  }

  private v3(caller: Caller, seg: string[], url: URL): DoubleReply {
    const [collection, guid, sub, subId, subSub] = seg;
    switch (collection) {
      case 'apps': {
        if (guid === undefined) return this.listApps(caller, url);
        const app = this.model.apps.find((a) => a.guid === guid);
        if (app === undefined || !this.canSeeApp(caller, app)) return notFound('App');
        if (sub === undefined) return { status: 200, body: this.appResource(app) };
        if (sub === 'permissions' && subId === undefined) {
          return {
            status: 200,
            body: { read_basic_data: true, read_sensitive_data: this.canReadSecrets(caller, app.spaceGuid) },
          };
        }
        if (sub === 'ssh_enabled' && subId === undefined) return { status: 200, body: this.sshEnabled(app) };
        if (sub === 'processes' && subId === undefined) {
          return this.paginated(
            url,
            app.processes.map((p) => this.processResource(app, p)),
          );
        }
        if (sub === 'processes' && subId !== undefined && subSub === 'stats') {
          const process = app.processes.find((p) => p.type === subId);
          if (process === undefined) return notFound('Process');
          return { status: 200, body: { resources: this.stats(process) } };
        }
        if (sub === 'processes' && subId !== undefined && subSub === undefined) {
          const process = app.processes.find((p) => p.type === subId);
          if (process === undefined) return notFound('Process');
          return { status: 200, body: this.processResource(app, process) };
        }
        break;
      }
      case 'processes': {
        for (const app of this.model.apps) {
          const process = app.processes.find((p) => this.guidOf(p) === guid);
          if (process === undefined) continue;
          if (!this.canSeeApp(caller, app)) return notFound('Process');
          if (sub === undefined) return { status: 200, body: this.processResource(app, process) };
          if (sub === 'stats') return { status: 200, body: { resources: this.stats(process) } };
        }
        return notFound('Process');
      }
      case 'spaces': {
        if (guid === undefined || sub !== undefined) break;
        const space = this.model.spaces.find((s) => s.guid === guid);
        if (space === undefined || !this.canSeeSpace(caller, space)) return notFound('Space');
        return { status: 200, body: this.spaceResource(space) };
      }
      case 'organizations': {
        if (guid === undefined || sub !== undefined) break;
        const org = this.model.orgs.find((o) => o.guid === guid);
        if (org === undefined || !this.canSeeOrg(caller, org.guid)) return notFound('Organization');
        return { status: 200, body: this.orgResource(org) };
      }
      case 'roles': {
        if (guid !== undefined) break;
        return this.listRoles(caller, url);
      }
      case undefined:
      default:
        break;
    }
    return ccError(404, 10000, 'CF-NotFound', 'Unknown request');
  }

  // --- visibility ------------------------------------------------------------------------------------------

  private seesEverything(c: Caller): boolean {
    return c.admin || c.adminReadOnly || c.globalAuditor;
  }

  private rolesOf(c: Caller): CcDoubleRole[] {
    return this.model.roles.filter((r) => r.userGuid === c.userGuid);
  }

  private canSeeSpace(c: Caller, space: CcDoubleSpace): boolean {
    if (this.seesEverything(c)) return true;
    return this.rolesOf(c).some(
      (r) =>
        (SPACE_ROLES.includes(r.type) && r.spaceGuid === space.guid) ||
        (r.type === 'organization_manager' && r.orgGuid === space.orgGuid),
    );
  }

  private canSeeApp(c: Caller, app: CcDoubleApp): boolean {
    const space = this.model.spaces.find((s) => s.guid === app.spaceGuid);
    return space !== undefined && this.canSeeSpace(c, space);
  }

  private canSeeOrg(c: Caller, orgGuid: string): boolean {
    if (this.seesEverything(c)) return true;
    return this.rolesOf(c).some(
      (r) =>
        r.orgGuid === orgGuid ||
        (r.spaceGuid !== undefined &&
          this.model.spaces.find((s) => s.guid === r.spaceGuid)?.orgGuid === orgGuid),
    );
  }

  /** CC's `can_read_secrets_in_space?`: admin, admin read-only, space developer. */
  private canReadSecrets(c: Caller, spaceGuid: string): boolean {
    if (c.admin || c.adminReadOnly) return true;
    return this.rolesOf(c).some((r) => r.type === 'space_developer' && r.spaceGuid === spaceGuid);
  }

  // --- lists ---------------------------------------------------------------------------------------------------

  private listApps(caller: Caller, url: URL): DoubleReply {
    const names = csv(url, 'names')?.map((n) => n.toLowerCase());
    const spaces = csv(url, 'space_guids');
    const apps = this.model.apps.filter(
      (a) =>
        this.canSeeApp(caller, a) &&
        (names === undefined || names.includes(a.name.toLowerCase())) &&
        (spaces === undefined || spaces.includes(a.spaceGuid)),
    );
    return this.paginated(
      url,
      apps.map((a) => this.appResource(a)),
    );
  }

  private listRoles(caller: Caller, url: URL): DoubleReply {
    const types = csv(url, 'types');
    const spaces = csv(url, 'space_guids');
    const users = csv(url, 'user_guids');
    const orgs = csv(url, 'organization_guids');
    const mine = this.rolesOf(caller);
    const visible = (r: CcDoubleRole): boolean => {
      if (this.seesEverything(caller)) return true;
      if (r.spaceGuid !== undefined)
        return (
          mine.some((m) => m.spaceGuid === r.spaceGuid) ||
          this.canSeeOrg(caller, this.orgOfSpace(r.spaceGuid) ?? '')
        );
      return r.orgGuid !== undefined && this.canSeeOrg(caller, r.orgGuid);
    };
    const roles = this.model.roles.filter(
      (r) =>
        visible(r) &&
        (types === undefined || types.includes(r.type)) &&
        (spaces === undefined || (r.spaceGuid !== undefined && spaces.includes(r.spaceGuid))) &&
        (orgs === undefined || (r.orgGuid !== undefined && orgs.includes(r.orgGuid))) &&
        (users === undefined || users.includes(r.userGuid)),
    );
    return this.paginated(
      url,
      roles.map((r) => this.roleResource(r)),
    );
  }

  private paginated(url: URL, resources: unknown[]): DoubleReply {
    const perPage = Math.min(Math.max(Number(url.searchParams.get('per_page') ?? '50') || 50, 1), 5000);
    const page = Math.max(Number(url.searchParams.get('page') ?? '1') || 1, 1);
    const totalPages = Math.max(Math.ceil(resources.length / perPage), 1);
    const link = (p: number): { href: string } => {
      const u = new URL(url.pathname, this.url);
      for (const [k, v] of url.searchParams) if (k !== 'page' && k !== 'per_page') u.searchParams.set(k, v);
      u.searchParams.set('page', String(p));
      u.searchParams.set('per_page', String(perPage));
      return { href: u.toString() };
    };
    return {
      status: 200,
      body: {
        pagination: {
          total_results: resources.length,
          total_pages: totalPages,
          first: link(1),
          last: link(totalPages),
          next: page < totalPages ? link(page + 1) : null,
          previous: page > 1 ? link(page - 1) : null,
        },
        resources: resources.slice((page - 1) * perPage, page * perPage),
      },
    };
  }

  // --- resources ---------------------------------------------------------------------------------------------

  private rootDocument(): unknown {
    const api = this.url;
    return {
      links: {
        self: { href: api },
        cloud_controller_v2: { href: `${api}/v2`, meta: { version: '2.155.0' } },
        cloud_controller_v3: { href: `${api}/v3`, meta: { version: this.model.v3Version ?? '3.190.0' } },
        login: { href: this.uaa.url },
        uaa: { href: this.uaa.url },
        credhub: null,
        routing: { href: `${api}/routing` },
        logging: { href: 'wss://doppler.example.org:443' },
        log_cache: { href: 'https://log-cache.example.org' },
        app_ssh: {
          href: 'ssh.example.org:2222',
          meta: {
            host_key_fingerprint: 'Y411oivJwZCUQnXHq83mdM5SKCK4ftyoSXIMEc9Rq/0',
            oauth_client: 'ssh-proxy',
          },
        },
      },
    };
  }

  private appResource(app: CcDoubleApp): unknown {
    const self = `${this.url}/v3/apps/${app.guid}`;
    return {
      guid: app.guid,
      name: app.name,
      state: app.state ?? 'STARTED',
      created_at: '2016-03-17T21:41:30Z',
      updated_at: '2016-03-18T11:32:30Z',
      lifecycle: { type: 'buildpack', data: { buildpacks: ['java_buildpack'], stack: 'cflinuxfs4' } },
      relationships: {
        space: { data: { guid: app.spaceGuid } },
        current_droplet: { data: { guid: '585bc3c1-3743-497d-88b0-403ad6b56d16' } },
      },
      metadata: { labels: {}, annotations: {} },
      links: {
        self: { href: self },
        processes: { href: `${self}/processes` },
        space: { href: `${this.url}/v3/spaces/${app.spaceGuid}` },
      },
    };
  }

  private sshEnabled(app: CcDoubleApp): { enabled: boolean; reason: string } {
    if (this.model.sshEnabledGlobally === false) return { enabled: false, reason: 'Disabled globally' };
    const space = this.model.spaces.find((s) => s.guid === app.spaceGuid);
    if (space?.allowSsh === false) return { enabled: false, reason: 'Disabled for space ' + space.name };
    if (app.enableSsh === false) return { enabled: false, reason: 'Disabled for app' };
    return { enabled: true, reason: '' };
  }

  private processResource(app: CcDoubleApp, p: CcDoubleProcess): unknown {
    const guid = this.guidOf(p);
    return {
      guid,
      created_at: '2016-03-23T18:48:22Z',
      updated_at: '2016-03-23T18:48:42Z',
      type: p.type,
      command: '[PRIVATE DATA HIDDEN IN LISTS]',
      instances: p.instances.length,
      memory_in_mb: 256,
      disk_in_mb: 1024,
      log_rate_limit_in_bytes_per_second: -1,
      health_check: { type: 'port', data: { timeout: null, invocation_timeout: null } },
      readiness_health_check: { type: 'process', data: { invocation_timeout: null } },
      relationships: { app: { data: { guid: app.guid } }, revision: { data: null } },
      metadata: { labels: {}, annotations: {} },
      links: {
        self: { href: `${this.url}/v3/processes/${guid}` },
        stats: { href: `${this.url}/v3/processes/${guid}/stats` },
        app: { href: `${this.url}/v3/apps/${app.guid}` },
      },
    };
  }

  private stats(p: CcDoubleProcess): unknown[] {
    const version = this.model.v3Version ?? '3.190.0';
    return p.instances.map((i, index) => {
      if (i.state === 'DOWN') {
        return {
          type: p.type,
          index,
          state: 'DOWN',
          routable: null,
          uptime: null,
          isolation_segment: null,
          details: null,
        };
      }
      return {
        type: p.type,
        index,
        ...(versionAtLeast(version, '3.192.0') ? { instance_guid: i.instanceGuid ?? this.guidOf(i) } : {}),
        state: i.state,
        routable: i.state === 'RUNNING',
        host: i.host ?? '10.244.16.10',
        ...(versionAtLeast(version, '3.149.0')
          ? { instance_internal_ip: i.internalIp ?? `10.255.0.${index + 1}` }
          : {}),
        instance_ports: [
          { external: 64546, internal: 8080, external_tls_proxy_port: 61002, internal_tls_proxy_port: 61003 },
        ],
        uptime: 9042,
        mem_quota: 268435456,
        disk_quota: 1073741824,
        log_rate_limit: -1,
        fds_quota: 16384,
        isolation_segment: null,
        details: null,
        usage: {
          time: new Date().toISOString(),
          cpu: 0.00038,
          cpu_entitlement: 0.011,
          mem: 19177472,
          disk: 69705728,
          log_rate: 0,
        },
      };
    });
  }

  private spaceResource(s: CcDoubleSpace): unknown {
    return {
      guid: s.guid,
      created_at: '2017-02-01T01:33:58Z',
      updated_at: '2017-02-01T01:33:58Z',
      name: s.name,
      relationships: { organization: { data: { guid: s.orgGuid } }, quota: { data: null } },
      metadata: { labels: {}, annotations: {} },
      links: {
        self: { href: `${this.url}/v3/spaces/${s.guid}` },
        organization: { href: `${this.url}/v3/organizations/${s.orgGuid}` },
      },
    };
  }

  private orgResource(o: CcDoubleOrg): unknown {
    return {
      guid: o.guid,
      created_at: '2017-02-01T01:33:58Z',
      updated_at: '2017-02-01T01:33:58Z',
      name: o.name,
      suspended: false,
      relationships: { quota: { data: { guid: 'b7887f5c-34bb-40c5-9778-577572e4fb2d' } } },
      metadata: { labels: {}, annotations: {} },
      links: { self: { href: `${this.url}/v3/organizations/${o.guid}` } },
    };
  }

  private roleResource(r: CcDoubleRole): unknown {
    const guid = this.guidOf(r);
    return {
      guid,
      created_at: '2019-10-10T17:19:12Z',
      updated_at: '2019-10-10T17:19:12Z',
      type: r.type,
      relationships: {
        user: { data: { guid: r.userGuid } },
        space: { data: r.spaceGuid === undefined ? null : { guid: r.spaceGuid } },
        organization: { data: r.orgGuid === undefined ? null : { guid: r.orgGuid } },
      },
      links: {
        self: { href: `${this.url}/v3/roles/${guid}` },
        user: { href: `${this.url}/v3/users/${r.userGuid}` },
        ...(r.spaceGuid === undefined ? {} : { space: { href: `${this.url}/v3/spaces/${r.spaceGuid}` } }),
        ...(r.orgGuid === undefined
          ? {}
          : { organization: { href: `${this.url}/v3/organizations/${r.orgGuid}` } }),
      },
    };
  }

  private orgOfSpace(spaceGuid: string): string | undefined {
    return this.model.spaces.find((s) => s.guid === spaceGuid)?.orgGuid;
  }

  /** A stable GUID for model objects that have none of their own. */
  private guidOf(o: object): string {
    if ('guid' in o && typeof o.guid === 'string') return o.guid;
    let g = this.guids.get(o);
    if (g === undefined) {
      g = randomUUID();
      this.guids.set(o, g);
    }
    return g;
  }
}

function csv(url: URL, key: string): string[] | undefined {
  const v = url.searchParams.get(key);
  return v === null ? undefined : v.split(',').filter((s) => s.length > 0);
}
