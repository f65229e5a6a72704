/**
 * The real API (apps/api/src/main.ts) in its own process with a YAML config in a temp dir, for tests that kill it
 * (SIGKILL by PID). Its JSON log is kept in memory (never printed; it holds no tokens or secrets).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { stringify } from 'yaml';

const ROOT = join(__dirname, '..', '..', '..');

export class ApiProcess {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly port: number,
    readonly output: () => string,
  ) {}

  static async start(config: Record<string, unknown>): Promise<ApiProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'api-process-'));
    const file = join(dir, 'api.yml');
    writeFileSync(file, stringify(config), { mode: 0o600 });
    const child = spawn(
      process.execPath,
      [
        '-r',
        'ts-node/register/transpile-only',
        '-r',
        'tsconfig-paths/register',
        join(ROOT, 'apps', 'api', 'src', 'main.ts'),
        file,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
    );
    let text = '';
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`API did not start:\n${text}`)), 90000);
      const onData = (chunk: Buffer): void => {
        text += chunk.toString('utf8');
        const m = /listening on [^\s"]+:(\d+)/.exec(text);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`API exited ${code}:\n${text}`));
      });
    }).catch((err: unknown) => {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw err;
    });
    return new ApiProcess(child, dir, port, () => text);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** SIGKILL by PID (no drain, no cleanup: a crashed instance) and wait for the exit; removes the temp dir. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
