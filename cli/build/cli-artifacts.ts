/**
 * Builds the cf CLI plugin and the standalone `pcap` CLI (used by `npm run build:cli` and by the CLI tests):
 * - `pcap-cli.js`, `pcap.js`: one self-contained JavaScript file each (esbuild bundle, `#!/usr/bin/env node`),
 *   for any OS with Node.js >= 20 (macOS, Linux);
 * - `pcap-cli-<os>-<arch>`, `pcap-<os>-<arch>`: single executables for the build machine (Node SEA: its node
 *   binary with the bundle injected by postject), unless `sea` is false: `linux-amd64` here; run on a Mac, the
 *   same build makes `darwin-arm64`/`darwin-amd64` (codesign step per Node's docs; not verified by this project);
 * - `SHA256SUMS`.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

import { build } from 'esbuild';

const ROOT = join(__dirname, '..', '..');
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

const TARGETS = [
  { entry: 'cli/src/plugin/main.ts', name: 'pcap-cli' },
  { entry: 'cli/src/standalone/main.ts', name: 'pcap' },
] as const;

async function bundle(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [join(ROOT, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    tsconfig: join(ROOT, 'tsconfig.json'),
    banner: { js: '#!/usr/bin/env node' },
    legalComments: 'none',
    logLevel: 'warning',
    // The capture engine's native addon is only loaded on demand by code the CLI never calls.
    logOverride: { 'unsupported-require-call': 'silent' },
  });
  chmodSync(outfile, 0o755);
}

/** The SEA file name suffix of this machine, or undefined where Node SEA is not built (Windows). */
function seaSuffix(): string | undefined {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  if (process.platform === 'linux' || process.platform === 'darwin') return `${process.platform}-${arch}`;
  return undefined;
}

/**
 * Node's single executable application recipe: blob from `--experimental-sea-config`, injected into a copy of the
 * running node by postject. On macOS (not run by this project's CI) the copy's signature is removed first and an
 * ad-hoc one added after, as Node's documentation says; Linux needs neither.
 */
function sea(script: string, output: string): void {
  const config = `${output}.sea.json`;
  const blob = `${output}.blob`;
  const macos = process.platform === 'darwin';
  writeFileSync(config, JSON.stringify({ main: script, output: blob, disableExperimentalSEAWarning: true }));
  execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: 'pipe' });
  copyFileSync(process.execPath, output);
  chmodSync(output, 0o755);
  if (macos) execFileSync('codesign', ['--remove-signature', output], { stdio: 'pipe' });
  execFileSync(
    process.execPath,
    [
      require.resolve('postject/dist/cli.js'),
      output,
      'NODE_SEA_BLOB',
      blob,
      '--sentinel-fuse',
      SEA_FUSE,
      ...(macos ? ['--macho-segment-name', 'NODE_SEA'] : []),
    ],
    { stdio: 'pipe' },
  );
  if (macos) execFileSync('codesign', ['--sign', '-', output], { stdio: 'pipe' });
  rmSync(config);
  rmSync(blob);
}

export interface BuiltCli {
  /** Absolute paths by file name. */
  readonly files: ReadonlyMap<string, string>;
  readonly singleExecutables: boolean;
}

/** Builds into `out` (emptied first). */
export async function buildCliArtifacts(out: string, options: { sea?: boolean } = {}): Promise<BuiltCli> {
  const OUT = out;
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const suffix = options.sea === false ? undefined : seaSuffix();
  for (const t of TARGETS) {
    const js = join(OUT, `${t.name}.js`);
    await bundle(t.entry, js);
    if (suffix !== undefined) sea(js, join(OUT, `${t.name}-${suffix}`));
  }
  const sums = readdirSync(OUT)
    .filter((f) => statSync(join(OUT, f)).isFile())
    .sort()
    .map(
      (f) =>
        `${createHash('sha256')
          .update(readFileSync(join(OUT, f)))
          .digest('hex')}  ${f}`,
    );
  writeFileSync(join(OUT, 'SHA256SUMS'), `${sums.join('\n')}\n`);
  const files = new Map(readdirSync(OUT).map((f) => [f, join(OUT, f)] as const));
  return { files, singleExecutables: suffix !== undefined };
}
