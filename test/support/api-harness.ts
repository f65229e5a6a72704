/**
 * Test support for the pcap API: a CF world (UAA and Cloud Controller doubles), mTLS certificates from
 * scripts/gen-certs.sh, real agents as child processes (killed by PID), and a small HTTP client (the API itself is
 * started by apps/api/test/api-under-test.ts). Everything started here is stopped by `stop()`/`destroy()`, also after a failure.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { stringify } from 'yaml';

import { CcDouble, type CcDoubleModel } from './cc-double';
import { UaaDouble, type UaaDoubleUser } from './uaa-double';

const ROOT = join(__dirname, '..', '..');
export const GEN_CERTS = join(ROOT, 'scripts', 'gen-certs.sh');

export const ORG = { guid: 'b1f0a8a6-0000-4000-8000-00000000a001', name: 'acme' };
export const SPACE_DEV = { guid: '2f35885d-0000-4000-8000-00000000a002', name: 'dev', orgGuid: ORG.guid };
export const SPACE_OTHER = { guid: '2f35885d-0000-4000-8000-00000000a003', name: 'other', orgGuid: ORG.guid };

const CF_READ = ['openid', 'cloud_controller.read', 'cloud_controller.write', 'uaa.user'];
export const USERS = {
  developer: { id: 'u-dev', userName: 'dev', email: 'dev@example.com' },
  developer2: { id: 'u-dev2', userName: 'dev2', email: 'dev2@example.com' },
  auditor: { id: 'u-aud', userName: 'auditor', email: 'auditor@example.com' },
  outsider: { id: 'u-out', userName: 'outsider', email: 'outsider@example.com' },
  admin: { id: 'u-admin', userName: 'admin', scopes: [...CF_READ, 'cloud_controller.admin'] },
} satisfies Record<string, UaaDoubleUser>;

/** Roles: developer(s) in dev, auditor in dev, outsider developer in other. */
export function baseModel(apps: CcDoubleModel['apps']): CcDoubleModel {
  return {
    orgs: [ORG],
    spaces: [{ ...SPACE_DEV }, { ...SPACE_OTHER }],
    apps,
    roles: [
      { type: 'space_developer', userGuid: USERS.developer.id, spaceGuid: SPACE_DEV.guid },
      { type: 'space_developer', userGuid: USERS.developer2.id, spaceGuid: SPACE_DEV.guid },
      { type: 'space_auditor', userGuid: USERS.auditor.id, spaceGuid: SPACE_DEV.guid },
      { type: 'space_developer', userGuid: USERS.outsider.id, spaceGuid: SPACE_OTHER.guid },
    ],
    v3Version: '3.195.0',
  };
}

export interface CfWorld {
  readonly uaa: UaaDouble;
  readonly cc: CcDouble;
  stop(): Promise<void>;
}

export async function startCfWorld(model: CcDoubleModel): Promise<CfWorld> {
  const uaa = await UaaDouble.start({ users: Object.values(USERS) });
  const cc = await CcDouble.start({ uaa, model });
  return {
    uaa,
    cc,
    async stop() {
      await cc.stop();
      await uaa.stop();
    },
  };
}

/** Certificates of one test run in a temp dir (keys never printed). */
export class ApiTestCerts {
  private constructor(readonly dir: string) {}

  static create(): ApiTestCerts {
    const dir = mkdtempSync(join(tmpdir(), 'api-certs-'));
    execFileSync(GEN_CERTS, [dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    return new ApiTestCerts(dir);
  }

  file(name: string): string {
    return join(this.dir, name);
  }

  destroy(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The API config as a plain object (what the YAML file would hold), with test defaults. */
export function apiConfigObject(
  world: CfWorld,
  certs: ApiTestCerts,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  const agents = (overrides.agents as Record<string, unknown> | undefined) ?? {};
  return {
    ...overrides,
    listen: { host: '127.0.0.1', port: 0 },
    uaa: { ...(overrides.uaa as object | undefined), url: world.uaa.url },
    cloud_controller: { ...(overrides.cloud_controller as object | undefined), url: world.cc.url },
    agents: {
      connect_timeout_seconds: 5,
      ...agents,
      mtls: {
        certificate: certs.file('api-client.crt'),
        private_key: certs.file('api-client.key'),
        ca: certs.file('ca.crt'),
      },
    },
    logging: { format: 'json' },
  };
}

export interface HttpResult {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One HTTP/1.1 request; resolves with the whole answer. */
export function call(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = httpRequest(
      url,
      {
        method: options.method ?? 'GET',
        headers: {
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Starts a request and resolves when the answer's headers arrived; the body is left to the caller. */
export function open(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = httpRequest(
      url,
      {
        method: options.method ?? 'GET',
        headers: {
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
      },
      resolve,
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export function json(result: HttpResult): Record<string, unknown> {
  return JSON.parse(result.body.toString('utf8')) as Record<string, unknown>;
}

/** A real agent (apps/agent/src/main.ts) in its own process on `host` (a 127.0.0.x address), any free port. */
export class AgentProcess {
  private constructor(
    readonly child: ChildProcess,
    readonly host: string,
    readonly port: number,
    private readonly dir: string,
    readonly output: () => string,
  ) {}

  static async start(
    certs: ApiTestCerts,
    options: {
      host: string;
      cellName: string;
      storeFile: string;
      runcRoot: string;
      /** Also serve Prometheus metrics on a plain listener on `host` (any free port; see `metricsPort`). */
      metrics?: boolean;
    },
  ): Promise<AgentProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'api-agent-'));
    const configFile = join(dir, 'agent.yml');
    writeFileSync(
      configFile,
      stringify({
        listen: { host: options.host, port: 0 },
        tls: {
          certificate: certs.file('agent.crt'),
          private_key: certs.file('agent.key'),
          client_ca: certs.file('ca.crt'),
        },
        cell: { name: options.cellName, container_store: options.storeFile, runc_root: options.runcRoot },
        capture: { drain_timeout_seconds: 5 },
        ...(options.metrics ? { metrics: { listen: { host: options.host, port: 0 } } } : {}),
      }),
    );
    const { child, port, output } = await startAppProcess('agent', configFile).catch((err: unknown) => {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    });
    return new AgentProcess(child, options.host, port, dir, output);
  }

  get endpoint(): string {
    return `${this.host}:${this.port}`;
  }

  /** Port of the plain metrics listener (started with `metrics: true`), from the agent's log. */
  get metricsPort(): number | undefined {
    const m = /metrics served on \S+:(\d+)/.exec(this.output());
    return m ? Number(m[1]) : undefined;
  }

  /** SIGKILL by PID and wait for the exit. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGKILL');
    await exited;
  }

  /** SIGTERM (graceful), then SIGKILL after 10 s; removes the temp dir. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * One of our apps (`apps/<app>/src/main.ts <config>`) in its own process, as in production but from the TypeScript
 * sources; resolves once it logs "listening on host:port". On failure the process is killed and the error holds
 * its output.
 */
async function startAppProcess(
  app: 'agent' | 'api',
  configFile: string,
): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  const child = spawn(
    process.execPath,
    [
      '-r',
      'ts-node/register/transpile-only',
      '-r',
      'tsconfig-paths/register',
      join(ROOT, 'apps', app, 'src', 'main.ts'),
      configFile,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
  );
  let text = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${app} did not start:\n${text}`)), 60000);
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      if (text.length > 200_000) text = text.slice(-50_000);
      const m = /listening on [^\s"]*:(\d+)/.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${app} exited ${code}:\n${text}`));
    });
  }).catch((err: unknown) => {
    if (child.exitCode === null) child.kill('SIGKILL');
    throw err;
  });
  return { child, port, output: () => text };
}

/** The real API (apps/api/src/main.ts) in its own process with `config` (the object the YAML file holds). */
export class ApiProcess {
  /** Resolves with how the process ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    private readonly dir: string,
    readonly output: () => string,
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        resolve({ code: child.exitCode, signal: child.signalCode });
      } else child.once('exit', (code, signal) => resolve({ code, signal }));
    });
  }

  static async start(config: Record<string, unknown>): Promise<ApiProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'api-process-'));
    const configFile = join(dir, 'api.yml');
    writeFileSync(configFile, stringify(config), { mode: 0o600 }); // may hold secrets (UAA client, S3 keys)
    const { child, port, output } = await startAppProcess('api', configFile).catch((err: unknown) => {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    });
    return new ApiProcess(child, port, dir, output);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** SIGKILL by PID (no drain: a crashed instance) and wait for the exit; removes the temp dir. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** SIGTERM (graceful: the API drains), then SIGKILL after `killAfterMs`; removes the temp dir. */
  async stop(killAfterMs = 10000): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), killAfterMs);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
