/**
 * A throwaway PostgreSQL server for tests: Debian's server binaries, a fresh cluster in a temp dir initialised as
 * the `postgres` OS user (the server refuses to run as root), trust auth on 127.0.0.1 and a socket in the temp dir,
 * a free port. `stop()` stops it by its pid file (pg_ctl, immediate) and removes the dir; safe to call twice.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function pgBin(name: string): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const version = versions[0];
  if (version === undefined)
    throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql');
  return join(root, version, 'bin', name);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function uidGid(user: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`));
  const parts = line?.split(':');
  if (parts === undefined || parts.length < 4) throw new Error(`no OS user ${user}`);
  return { uid: Number(parts[2]), gid: Number(parts[3]) };
}

export class PostgresServer {
  private stopped = false;

  private constructor(
    private readonly dir: string,
    readonly port: number,
  ) {}

  /** `postgres://pcap@127.0.0.1:<port>/postgres` (trust auth, no password). */
  get url(): string {
    return `postgres://pcap@127.0.0.1:${this.port}/postgres`;
  }

  private get data(): string {
    return join(this.dir, 'data');
  }

  static async start(): Promise<PostgresServer> {
    const dir = mkdtempSync(join(tmpdir(), 'pg-test-'));
    const server = new PostgresServer(dir, await freePort());
    try {
      const { uid, gid } = uidGid('postgres');
      chmodSync(dir, 0o700);
      chownSync(dir, uid, gid);
      const asPostgres = (bin: string, args: string[]): void => {
        execFileSync('runuser', ['-u', 'postgres', '--', pgBin(bin), ...args], {
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: 120000,
        });
      };
      asPostgres('initdb', ['-D', server.data, '--username=pcap', '--auth=trust', '-E', 'UTF8', '--no-sync']);
      asPostgres('pg_ctl', [
        '-D',
        server.data,
        '-l',
        join(dir, 'server.log'),
        '-w',
        '-t',
        '60',
        '-o',
        `-k ${dir} -p ${server.port} -c listen_addresses=127.0.0.1 -c fsync=off`,
        'start',
      ]);
      return server;
    } catch (err) {
      server.stop();
      throw err;
    }
  }

  /** The server's log (for a failing test's message). */
  log(): string {
    const file = join(this.dir, 'server.log');
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (existsSync(join(this.data, 'postmaster.pid'))) {
      try {
        execFileSync(
          'runuser',
          ['-u', 'postgres', '--', pgBin('pg_ctl'), '-D', this.data, '-m', 'immediate', '-w', 'stop'],
          {
            stdio: ['ignore', 'pipe', 'pipe'],
            timeout: 60000,
          },
        );
      } catch {
        // Already gone: nothing to stop.
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
