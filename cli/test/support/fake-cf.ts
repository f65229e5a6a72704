/**
 * Builds cli/test/go/fake-cf (a Go net/rpc server with the cf CLI's type and field names; see its main.go) with
 * the Debian `go` into a temp dir, offline (GOPROXY=off, GOCACHE/GOPATH under the OS temp dir), and runs it.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { goBuild } from './go-build';

const SOURCE = join(__dirname, '..', 'go', 'fake-cf');

export interface FakeCfState {
  readonly loggedIn: boolean;
  readonly apiEndpoint: string;
  readonly sslDisabled?: boolean;
  readonly accessToken?: string;
  readonly accessTokenError?: string;
  readonly spaceGuid?: string;
  readonly spaceName?: string;
}

export interface FakeCfRecord {
  readonly calls: Array<{ method: string; arg: string }>;
  readonly metadata: Record<string, unknown> | null;
  readonly exitCode: number;
  readonly port: number;
}

export interface FakeCfRun {
  readonly code: number;
  readonly stdout: Buffer;
  readonly stderr: string;
  readonly record: FakeCfRecord;
}

export class FakeCf {
  private constructor(
    readonly dir: string,
    readonly binary: string,
  ) {}

  static build(): FakeCf {
    const dir = mkdtempSync(join(tmpdir(), 'cli-fake-cf-'));
    const binary = join(dir, 'fake-cf');
    goBuild(SOURCE, binary);
    return new FakeCf(dir, binary);
  }

  /** The gob bytes Go writes for a scenario of main.go's `golden`. */
  golden(scenario: string): Buffer {
    const hex = execFileSync(this.binary, ['golden', scenario], { encoding: 'utf8' }).trim();
    return Buffer.from(hex, 'hex');
  }

  /**
   * Runs the plugin as the cf CLI would (`PLUGIN <port> ARGS...`) and resolves when it has exited. `onStart`
   * gets the fake cf's child process (its own process group, so a test can send SIGINT to the group as a
   * terminal's Ctrl-C would).
   */
  async run(
    plugin: string,
    args: readonly string[],
    state: FakeCfState,
    options: {
      env?: NodeJS.ProcessEnv;
      onStart?: (child: ChildProcess) => void;
      stdin?: 'ignore' | 'pipe';
    } = {},
  ): Promise<FakeCfRun> {
    const id = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const stateFile = join(this.dir, `state-${id}.json`);
    const recordFile = join(this.dir, `record-${id}.json`);
    writeFileSync(stateFile, JSON.stringify(state));
    const child = spawn(
      this.binary,
      ['run', '-plugin', plugin, '-state', stateFile, '-record', recordFile, '--', ...args],
      { stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'], env: options.env ?? process.env, detached: true },
    );
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => stdout.push(c));
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    options.onStart?.(child);
    const code = await new Promise<number>((resolve) => child.once('close', (c) => resolve(c ?? -1)));
    const record = JSON.parse(readFileSync(recordFile, 'utf8')) as FakeCfRecord;
    rmSync(stateFile, { force: true });
    rmSync(recordFile, { force: true });
    return { code, stdout: Buffer.concat(stdout), stderr, record };
  }

  destroy(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
