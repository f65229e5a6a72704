import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Builds the Go program in `source` into `out`, offline (the module has no dependencies beyond the standard
 * library), with a build cache shared by the CLI tests. `env` adds e.g. GOOS/GOARCH for a cross build.
 */
export function goBuild(source: string, out: string, env: Record<string, string> = {}): void {
  execFileSync('go', ['build', '-o', out, '.'], {
    cwd: source,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      GOCACHE: join(tmpdir(), 'pcap-cli-gocache'),
      GOPATH: join(tmpdir(), 'pcap-cli-gopath'),
      GOPROXY: 'off',
      GOFLAGS: '-mod=mod',
      GO111MODULE: 'on',
      CGO_ENABLED: '0',
      ...env,
    },
  });
}
