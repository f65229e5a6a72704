import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { RELEASE } from './bosh-release';

const execFileAsync = promisify(execFile);
const ROOT = join(RELEASE, '..');

/** One job process started from its rendered templates, as bpm would, in a `/var/vcap` layout. */
export interface VcapJob {
  readonly process: ChildProcess;
  /** The port the app logged (`listening on <host>:<port>`). */
  readonly port: number;
  /** Everything the process printed so far. */
  output(): string;
  /** Resolves with the exit code and the time it was seen. */
  readonly exited: Promise<{ code: number | null; at: number }>;
  /** Runs the rendered bin/drain as BOSH does (root, in the job's layout): its stdout, stderr and end time. */
  drain(): Promise<{ stdout: string; stderr: string; at: number }>;
  /** SIGKILL if still running (cleanup after a failure). */
  kill(): void;
}

/**
 * Starts `apps/<app>/src/main.ts` (ts-node: the source of what the pcap package builds) with the job's rendered
 * config at its /var/vcap path. In a private mount namespace /var is a tmpfs holding /var/vcap/jobs/<job> (the
 * rendered dir), the bpm pid file and the cell's runc at /var/vcap/packages/runc/bin/runc, so the rendered config
 * and drain script run unchanged; `packages` adds /var/vcap/packages/<name> links to installed package dirs.
 * Nothing outside the namespace changes.
 */
export async function startVcapJob(
  job: string,
  renderedDir: string,
  app: 'api' | 'agent',
  packages: Readonly<Record<string, string>> = {},
): Promise<VcapJob> {
  const config = `/var/vcap/jobs/${job}/config/${app}.yml`;
  const boot = [
    'set -eu',
    'mount -t tmpfs tmpfs /var',
    `mkdir -p /var/vcap/jobs /var/vcap/sys/run/bpm/${job} /var/vcap/packages/runc/bin`,
    `ln -s "${renderedDir}" /var/vcap/jobs/${job}`,
    'ln -s "$(command -v runc)" /var/vcap/packages/runc/bin/runc',
    ...Object.entries(packages).map(([name, dir]) => `ln -s "${dir}" /var/vcap/packages/${name}`),
    `echo $$ > /var/vcap/sys/run/bpm/${job}/${job}.pid`,
    `cd "${ROOT}"`,
    `exec "${process.execPath}" -r ts-node/register/transpile-only -r tsconfig-paths/register apps/${app}/src/main.ts ${config}`,
  ].join('\n');
  const proc = spawn('unshare', ['--mount', '--propagation', 'private', 'bash', '-c', boot], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TS_NODE_PROJECT: join(ROOT, 'tsconfig.json') },
  });
  let output = '';
  const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
    proc.once('exit', (code) => resolve({ code, at: Date.now() })),
  );
  let timer: NodeJS.Timeout | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const m = /listening on [^\s:]+:(\d+)/.exec(output);
      if (m) resolve(Number(m[1]));
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`${job} exited ${code}: ${output}`)));
    timer = setTimeout(() => reject(new Error(`${job} did not start: ${output}`)), 45000);
  })
    .catch((err: unknown) => {
      if (proc.exitCode === null) proc.kill('SIGKILL');
      throw err;
    })
    .finally(() => clearTimeout(timer));
  const pid = proc.pid as number;
  return {
    process: proc,
    port,
    output: () => output,
    exited,
    async drain() {
      const args = [`--mount=/proc/${pid}/ns/mnt`, '--', 'bash', `/var/vcap/jobs/${job}/bin/drain`];
      const { stdout, stderr } = await execFileAsync('nsenter', [...args, 'job_shutdown', 'hash_unchanged'], {
        encoding: 'utf8',
        timeout: 120000,
      });
      return { stdout, stderr, at: Date.now() };
    },
    kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
  };
}
