/**
 * The real capture path for CLI tests: two simulated Diego cells (real runc containers), a real agent per cell
 * (HTTP/2 + mTLS on 127.0.0.2 / 127.0.0.3), the UAA and Cloud Controller doubles, and the real pcap API in its own
 * process (apps/api/src/main.ts; spawned, not imported: nothing imports from apps/). App `web-app` has three
 * instances: 0 on cell A, 1 and 2 on cell B. Everything is stopped by PID and removed by `stop()`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { stringify } from 'yaml';

import {
  AgentProcess,
  apiConfigObject,
  ApiTestCerts,
  baseModel,
  type CfWorld,
  SPACE_DEV,
  startCfWorld,
} from '../../../test/support/api-harness';
import { BoshDirectorDouble } from '../../../test/support/bosh-director-double';
import { type CellContainer, DiegoCell } from '../../../test/support/diego-cell';
import { UaaDouble, type UaaDoubleUser } from '../../../test/support/uaa-double';

const ROOT = join(__dirname, '..', '..', '..');
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
    readonly dir: string,
    readonly world: CfWorld,
    private readonly certs: ApiTestCerts,
    private readonly cells: DiegoCell[],
    private readonly agents: AgentProcess[],
    private readonly api: ChildProcess,
    readonly apiUrl: string,
    /** Instance index → container. */
    readonly instances: readonly CellContainer[],
    readonly apiOutput: () => string,
    /** The BOSH director double (deployment `cf`, group `router` on the two agents) and its UAA. */
    readonly director: BoshDirectorDouble,
    readonly boshUaa: UaaDouble,
  ) {}

  static async start(options: { cliDir: string; limits?: Record<string, unknown> }): Promise<CaptureStack> {
    const dir = mkdtempSync(join(tmpdir(), 'cli-stack-'));
    const cleanup: Array<() => Promise<void> | void> = [() => rmSync(dir, { recursive: true, force: true })];
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
        bosh: { director: { url: director.url } },
        agents: { endpoints: { [HOST_A]: agents[0].endpoint, [HOST_B]: agents[1].endpoint } },
        limits: { concurrent_captures_per_user: 1, ...options.limits },
        cli: { binaries_dir: options.cliDir },
      });
      const configFile = join(dir, 'api.yml');
      writeFileSync(configFile, stringify(config));
      const api = spawn(
        process.execPath,
        [
          '-r',
          'ts-node/register/transpile-only',
          '-r',
          'tsconfig-paths/register',
          join(ROOT, 'apps', 'api', 'src', 'main.ts'),
          configFile,
        ],
        { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
      );
      cleanup.push(() => stopChild(api));
      let text = '';
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the API did not start:\n${text}`)), 90000);
        const onData = (chunk: Buffer): void => {
          text += chunk.toString('utf8');
          const m = /listening on \S+:(\d+)/.exec(text);
          if (m) {
            clearTimeout(timer);
            resolve(Number(m[1]));
          }
        };
        api.stdout.on('data', onData);
        api.stderr.on('data', onData);
        api.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`the API exited ${code}:\n${text}`));
        });
      });
      return new CaptureStack(
        dir,
        world,
        certs,
        [cellA, cellB],
        agents,
        api,
        `http://127.0.0.1:${port}`,
        instances,
        () => text,
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

  async stop(): Promise<void> {
    await stopChild(this.api);
    for (const a of this.agents) await a.stop().catch(() => undefined);
    for (const c of this.cells) await c.destroy().catch(() => undefined);
    await this.world.stop().catch(() => undefined);
    await this.director.stop().catch(() => undefined);
    await this.boshUaa.stop().catch(() => undefined);
    this.certs.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** SIGTERM by PID, SIGKILL after 10 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
  await exited;
  clearTimeout(timer);
}
