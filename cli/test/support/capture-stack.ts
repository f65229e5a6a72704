/**
 * The real capture path for CLI tests: two simulated Diego cells (real runc containers), a real agent per cell
 * (HTTP/2 + mTLS on 127.0.0.2 / 127.0.0.3), the UAA and Cloud Controller doubles, a BOSH director double whose
 * deployment `cf` has two `router` VMs (those same agents), and the real pcap API in its own process (ApiProcess:
 * apps/api/src/main.ts is spawned, not imported). App `web-app` has three instances: 0 on cell A, 1 and 2 on cell B.
 * Everything is stopped by PID and removed by `stop()`.
 */
import {
  AgentProcess,
  apiConfigObject,
  ApiProcess,
  ApiTestCerts,
  baseModel,
  type CfWorld,
  SPACE_DEV,
  startCfWorld,
} from '../../../test/support/api-harness';
import { BoshDirectorDouble } from '../../../test/support/bosh-director-double';
import { type CellContainer, DiegoCell } from '../../../test/support/diego-cell';
import { UaaDouble, type UaaDoubleUser } from '../../../test/support/uaa-double';

export const APP = { guid: '1cb006ee-0000-4000-8000-0000000c1001', name: 'web-app' };
const HOST_A = '127.0.0.2';
const HOST_B = '127.0.0.3';
/** A BOSH operator of the director's own UAA. */
export const BOSH_OPERATOR: UaaDoubleUser = {
  id: 'bosh-op',
  userName: 'operator',
  scopes: ['openid', 'bosh.admin'],
};
/** The ids of deployment `cf`'s two `router` VMs: the agents on 127.0.0.2 and 127.0.0.3 stand for them. */
export const ROUTERS = ['7e1f0c1a-0000-4000-8000-00000000b001', '7e1f0c1a-0000-4000-8000-00000000b002'];

export class CaptureStack {
  private constructor(
    readonly world: CfWorld,
    private readonly certs: ApiTestCerts,
    private readonly cells: DiegoCell[],
    private readonly agents: AgentProcess[],
    private readonly api: ApiProcess,
    readonly apiUrl: string,
    /** Instance index → container. */
    readonly instances: readonly CellContainer[],
    readonly apiOutput: () => string,
    /** The BOSH director double (deployment `cf`, group `router` on the two agents) and its UAA. */
    readonly director: BoshDirectorDouble,
    readonly boshUaa: UaaDouble,
  ) {}

  private readonly extraApis: ApiProcess[] = [];

  /**
   * `config` adds top-level keys to the API's configuration (e.g. `sinks`, `schedules`); `limits` is merged into
   * the stack's own limits.
   */
  static async start(options: {
    cliDir: string;
    limits?: Record<string, unknown>;
    config?: Record<string, unknown>;
  }): Promise<CaptureStack> {
    const cleanup: Array<() => Promise<void> | void> = [];
    try {
      const certs = ApiTestCerts.create();
      cleanup.push(() => certs.destroy());
      const cellA = await DiegoCell.create([{ appId: APP.guid }]);
      cleanup.push(() => cellA.destroy());
      const cellB = await DiegoCell.create([{ appId: APP.guid }, { appId: APP.guid }]);
      cleanup.push(() => cellB.destroy());
      const instances = [cellA.containers[0]!, cellB.containers[0]!, cellB.containers[1]!];
      const agents = await Promise.all([
        AgentProcess.start(certs, {
          host: HOST_A,
          cellName: 'cell-a',
          storeFile: cellA.storeFile,
          runcRoot: cellA.runcRoot,
        }),
        AgentProcess.start(certs, {
          host: HOST_B,
          cellName: 'cell-b',
          storeFile: cellB.storeFile,
          runcRoot: cellB.runcRoot,
        }),
      ]);
      for (const a of agents) cleanup.push(() => a.stop());
      const world = await startCfWorld(
        baseModel([
          {
            ...APP,
            spaceGuid: SPACE_DEV.guid,
            processes: [
              {
                type: 'web',
                instances: instances.map((c, i) => ({
                  state: 'RUNNING' as const,
                  host: i === 0 ? HOST_A : HOST_B,
                  instanceGuid: c.handle,
                  internalIp: c.ip,
                })),
              },
            ],
          },
        ]),
      );
      cleanup.push(() => world.stop());
      const boshUaa = await UaaDouble.start({
        users: [BOSH_OPERATOR],
        clients: [{ id: 'bosh_cli', secret: '' }],
      });
      cleanup.push(() => boshUaa.stop());
      const director = await BoshDirectorDouble.start({
        uaa: boshUaa,
        deployments: {
          cf: [
            { job: 'router', id: ROUTERS[0]!, index: 0, ips: [HOST_A] },
            { job: 'router', id: ROUTERS[1]!, index: 1, ips: [HOST_B] },
          ],
        },
      });
      cleanup.push(() => director.stop());
      const config = apiConfigObject(world, certs, {
        ...options.config,
        bosh: { director: { url: director.url } },
        agents: { endpoints: { [HOST_A]: agents[0].endpoint, [HOST_B]: agents[1].endpoint } },
        limits: { concurrent_captures_per_user: 1, ...options.limits },
        cli: { binaries_dir: options.cliDir },
      });
      const api = await ApiProcess.start(config);
      cleanup.push(() => api.stop());
      return new CaptureStack(
        world,
        certs,
        [cellA, cellB],
        agents,
        api,
        api.url,
        instances,
        api.output,
        director,
        boshUaa,
      );
    } catch (err) {
      for (const c of cleanup.reverse()) await Promise.resolve(c()).catch(() => undefined);
      throw err;
    }
  }

  /** `count` UDP datagrams to each instance (port `base + index`), from its cell. */
  async sendToAll(base: number, count: number): Promise<void> {
    for (const [i, c] of this.instances.entries()) {
      await this.cells[i === 0 ? 0 : 1]!.sendUdpTo(c, { port: base + i, count, size: 80, gapUs: 500 });
    }
  }

  /** Another API process on the same world, agents and certificates, with `config` as its extra keys. */
  async startExtraApi(config: Record<string, unknown> = {}): Promise<string> {
    const endpoints = Object.fromEntries(
      [HOST_A, HOST_B].map((h, i) => [h, this.agents[i]!.endpoint] as const),
    );
    const api = await ApiProcess.start(
      apiConfigObject(this.world, this.certs, { ...config, agents: { endpoints } }),
    );
    this.extraApis.push(api);
    return api.url;
  }

  async stop(): Promise<void> {
    for (const a of this.extraApis) await a.stop().catch(() => undefined);
    await this.api.stop();
    for (const a of this.agents) await a.stop().catch(() => undefined);
    for (const c of this.cells) await c.destroy().catch(() => undefined);
    await this.world.stop().catch(() => undefined);
    await this.director.stop().catch(() => undefined);
    await this.boshUaa.stop().catch(() => undefined);
    this.certs.destroy();
  }
}
