/**
 * A BOSH director for tests and the local demo: a real HTTP server on 127.0.0.1 with `GET /info` (no auth,
 * names the director's UAA) and `GET /deployments/<d>/instances` (bearer token of that UAA, scope `bosh.admin`,
 * `bosh.read` or `bosh.<director uuid>.admin`), shaped as reference/pcap-release.md lists them. Unknown
 * deployments get the director's `{"code":70000,"description":…}` 404. Faults come from {@link HttpDouble}.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

import { bearerOf, type DoubleReply, HttpDouble, type UaaDouble } from './uaa-double';

export interface BoshDoubleInstance {
  readonly job: string;
  readonly id: string;
  readonly index?: number;
  readonly az?: string;
  /** Empty for an instance without a VM. */
  readonly ips: readonly string[];
  /** Default: a cid when `ips` is non-empty, else null. */
  readonly cid?: string | null;
}

export interface BoshDirectorDoubleOptions {
  /** The director's UAA (a separate UaaDouble from the CF one). */
  readonly uaa: UaaDouble;
  /** deployment name → instances. */
  readonly deployments: Record<string, BoshDoubleInstance[]>;
  readonly name?: string;
  readonly uuid?: string;
}

export class BoshDirectorDouble extends HttpDouble {
  readonly deployments: Record<string, BoshDoubleInstance[]>;
  readonly uuid: string;
  private readonly uaa: UaaDouble;
  private readonly name: string;

  private constructor(options: BoshDirectorDoubleOptions) {
    super((req, _body, url) => this.route(req, url));
    this.uaa = options.uaa;
    this.deployments = options.deployments;
    this.name = options.name ?? 'bosh-lite';
    this.uuid = options.uuid ?? randomUUID();
  }

  static async start(options: BoshDirectorDoubleOptions): Promise<BoshDirectorDouble> {
    const d = new BoshDirectorDouble(options);
    await d.listen();
    return d;
  }

  private route(req: IncomingMessage, url: URL): DoubleReply {
    if (req.method === 'GET' && url.pathname === '/info') {
      return {
        status: 200,
        body: {
          name: this.name,
          uuid: this.uuid,
          version: '280.1.7 (00000000)',
          user: null,
          cpi: 'warden_cpi',
          stemcell_os: 'ubuntu-jammy',
          stemcell_version: '1.500',
          user_authentication: { type: 'uaa', options: { url: this.uaa.url, urls: [this.uaa.url] } },
          features: {
            local_dns: { status: true, extras: { domain_name: 'bosh' } },
            power_dns: { status: false, extras: { domain_name: 'bosh' } },
            snapshots: { status: false },
            config_server: { status: true, extras: { urls: ['https://192.168.56.6:8844/api/'] } },
          },
        },
      };
    }
    const m = /^\/deployments\/([^/]+)\/instances$/.exec(url.pathname);
    if (req.method !== 'GET' || m?.[1] === undefined) {
      return { status: 404, body: { code: 100003, description: `Unknown resource ${url.pathname}` } };
    }
    const token = bearerOf(req);
    const verdict = token === undefined ? undefined : this.uaa.verify(token);
    if (verdict === undefined || !verdict.ok) {
      return { status: 401, body: `Not authorized: '${url.pathname}'\n`, text: true };
    }
    const scopeClaim: unknown = verdict.claims.scope;
    const scopes = Array.isArray(scopeClaim) ? scopeClaim.map(String) : [];
    const allowed = ['bosh.admin', 'bosh.read', `bosh.${this.uuid}.admin`, `bosh.${this.uuid}.read`];
    if (!scopes.some((s) => allowed.includes(s))) {
      return { status: 401, body: `Not authorized: '${url.pathname}'\n`, text: true };
    }
    const deployment = decodeURIComponent(m[1]);
    const instances = this.deployments[deployment];
    if (instances === undefined) {
      return { status: 404, body: { code: 70000, description: `Deployment '${deployment}' doesn't exist` } };
    }
    return {
      status: 200,
      body: instances.map((i) => {
        const hasVm = i.ips.length > 0;
        return {
          agent_id: hasVm ? `agent-${i.id}` : null,
          cid: i.cid === undefined ? (hasVm ? `vm-${i.id}` : null) : i.cid,
          job: i.job,
          index: i.index ?? 0,
          id: i.id,
          az: i.az ?? 'z1',
          ips: [...i.ips],
          vm_created_at: hasVm ? '2024-01-01T00:00:00Z' : null,
          expects_vm: true,
        };
      }),
    };
  }
}
