import { z } from 'zod';

import { CfAuthError, CfForbiddenError, CfNotFoundError, CfUnavailableError } from '../errors/cf.error';
import { type HttpEndpointOptions, type HttpJsonResponse, JsonHttpClient } from '../http/json-http.client';
import { type SecretToken } from '../uaa/secret-token';
import {
  type BoshDirectorInfo,
  boshInfoSchema,
  type BoshInstance,
  boshInstanceSchema,
  type BoshTarget,
  type BoshTargetSelection,
} from './bosh-director.models';

const SYSTEM = 'BOSH director';
const boshErrorSchema = z.object({ code: z.number(), description: z.string() });

/**
 * The BOSH director's HTTP API, with the user's BOSH UAA token passed through. 401 → CfAuthError
 * (`rejected_by_upstream`), 403 → CfForbiddenError, 404 → CfNotFoundError (director's `description` kept),
 * network failure, timeout or 5xx → CfUnavailableError naming the director.
 */
export class BoshDirectorClient {
  private readonly http: JsonHttpClient;

  constructor(options: HttpEndpointOptions) {
    this.http = new JsonHttpClient(SYSTEM, options);
  }

  get url(): string {
    return this.http.origin;
  }

  /** `GET /info` (no auth): the director's identity and its UAA. */
  async info(requestId?: string): Promise<BoshDirectorInfo> {
    const i = this.parse(await this.http.request({ path: '/info', requestId }), boshInfoSchema, 'its info');
    const opts = i.user_authentication.options;
    return {
      name: i.name,
      uuid: i.uuid,
      version: i.version,
      authType: i.user_authentication.type,
      uaaUrl: opts.url ?? opts.urls?.[0],
    };
  }

  /** `GET /deployments/<d>/instances`. Unknown deployment → CfNotFoundError. */
  async listInstances(token: SecretToken, deployment: string, requestId?: string): Promise<BoshInstance[]> {
    const res = await this.http.request({
      path: `/deployments/${encodeURIComponent(deployment)}/instances`,
      token,
      requestId,
    });
    const list = this.parse(
      res,
      z.array(boshInstanceSchema),
      'instances',
      `Deployment '${deployment}' not found.`,
    );
    return list.map((i) => ({
      agentId: i.agent_id ?? undefined,
      cid: i.cid ?? undefined,
      job: i.job,
      index: i.index ?? undefined,
      id: i.id,
      az: i.az ?? undefined,
      ips: i.ips,
      expectsVm: i.expects_vm ?? true,
    }));
  }

  /** {@link listInstances} + {@link selectBoshTargets}. */
  async resolveTargets(
    token: SecretToken,
    deployment: string,
    selection: BoshTargetSelection,
    requestId?: string,
  ): Promise<BoshTarget[]> {
    return selectBoshTargets(deployment, await this.listInstances(token, deployment, requestId), selection);
  }

  close(): void {
    this.http.close();
  }

  private parse<T>(res: HttpJsonResponse, schema: z.ZodType<T>, what: string, notFound?: string): T {
    if (res.status === 200) {
      const parsed = schema.safeParse(res.body);
      if (parsed.success) return parsed.data;
      throw new CfUnavailableError(SYSTEM, `${SYSTEM} at ${this.url} returned ${what} we cannot read.`);
    }
    const e = boshErrorSchema.safeParse(res.body);
    const detail = e.success ? e.data.description : `HTTP ${res.status}`;
    if (res.status === 401)
      throw new CfAuthError('rejected_by_upstream', `${SYSTEM} did not accept the token.`);
    if (res.status === 403) throw new CfForbiddenError(`${SYSTEM} refused: ${detail}.`);
    if (res.status === 404)
      throw new CfNotFoundError(e.success ? `${detail}.` : (notFound ?? `${SYSTEM}: not found.`));
    throw new CfUnavailableError(
      SYSTEM,
      `${SYSTEM} at ${this.url} failed while reading ${what} (${detail}).`,
    );
  }
}

/**
 * Targets as pcap-release's BOSH resolver picks them: instance group ∈ `groups` and, if `ids` are given,
 * id ∈ `ids`; the agent at `ips[0]`. Instances without a VM/IP are kept but `available: false`. A group or id
 * that matches nothing → CfNotFoundError naming it (a typo should not silently capture less).
 */
export function selectBoshTargets(
  deployment: string,
  instances: readonly BoshInstance[],
  selection: BoshTargetSelection,
): BoshTarget[] {
  const groups = new Set(selection.groups);
  const ids = selection.ids === undefined || selection.ids.length === 0 ? undefined : new Set(selection.ids);
  const missingGroups = [...groups].filter((g) => !instances.some((i) => i.job === g));
  if (groups.size === 0 || missingGroups.length > 0) {
    throw new CfNotFoundError(
      groups.size === 0
        ? 'Name at least one instance group.'
        : `Deployment '${deployment}' has no instance group ${missingGroups.map((g) => `'${g}'`).join(', ')}.`,
    );
  }
  const chosen = instances.filter((i) => groups.has(i.job) && (ids === undefined || ids.has(i.id)));
  if (ids !== undefined) {
    const missingIds = [...ids].filter((id) => !chosen.some((i) => i.id === id));
    if (missingIds.length > 0) {
      throw new CfNotFoundError(
        `No instance ${missingIds.map((id) => `'${id}'`).join(', ')} in group(s) ${[...groups].join(', ')} of deployment '${deployment}'.`,
      );
    }
  }
  return chosen.map((i) => {
    const host = i.ips[0];
    return {
      deployment,
      group: i.job,
      id: i.id,
      index: i.index,
      az: i.az,
      host,
      origin: `${i.job}/${i.id}`,
      available: host !== undefined && i.cid !== undefined,
    };
  });
}
