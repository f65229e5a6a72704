/**
 * Builds the cf CLI plugin and the standalone `pcap` CLI (used by `npm run build:cli` and by the CLI tests):
 * - `pcap-cli.js`, `pcap.js`: one self-contained JavaScript file each (esbuild bundle, `#!/usr/bin/env node`),
 *   for any OS with Node.js >= 20 (macOS, Linux);
 * - `pcap-cli-<target>`, `pcap-<target>`: single executables (Node SEA: a Node.js binary from the npm registry with
 *   the bundle injected by postject) for `linux-amd64`, `darwin-amd64` and `darwin-arm64`, made on any build
 *   machine (./node-runtime.ts fetches the binaries, ./macho.ts re-signs the macOS ones);
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
import { basename, join } from 'node:path';

import { build } from 'esbuild';

import { adhocSign, CS_ADHOC, MachOError, parseMachO, readCodeSignature, removeSignature } from './macho';
import { blobWriter, nodeBinary, SEA_TARGETS, type SeaTarget } from './node-runtime';

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

/** Where postject puts the blob: an ELF note, or on macOS a segment of its own. */
const MACHO_SEGMENT = 'NODE_SEA';

/**
 * Node's single executable application recipe for one target: the blob (`--experimental-sea-config`, written by
 * the same Node release) injected by postject into that target's node binary. On macOS the Node.js Foundation's
 * signature is removed first and an ad-hoc one added after (what `codesign` does on a Mac, done here by
 * ./macho.ts so any build machine makes every target); the result is checked before it is kept.
 */
function sea(script: string, output: string, target: SeaTarget): void {
  const config = `${output}.sea.json`;
  const blob = `${output}.blob`;
  const macos = target.startsWith('darwin-');
  const node = nodeBinary(target);
  writeFileSync(config, JSON.stringify({ main: script, output: blob, disableExperimentalSEAWarning: true }));
  execFileSync(blobWriter(), ['--experimental-sea-config', config], { stdio: 'pipe' });
  if (macos) writeFileSync(output, removeSignature(readFileSync(node)));
  else copyFileSync(node, output);
  chmodSync(output, 0o755);
  execFileSync(
    process.execPath,
    [
      require.resolve('postject/dist/cli.js'),
      output,
      'NODE_SEA_BLOB',
      blob,
      '--sentinel-fuse',
      SEA_FUSE,
      ...(macos ? ['--macho-segment-name', MACHO_SEGMENT] : []),
    ],
    { stdio: 'pipe' },
  );
  if (macos) {
    writeFileSync(output, adhocSign(readFileSync(output), { identifier: basename(output) }));
    checkMacosSea(output, readFileSync(blob));
  }
  rmSync(config);
  rmSync(blob);
}

/** The blob sits in NODE_SEA,__NODE_SEA_BLOB, the fuse is set, and the ad-hoc signature covers every page. */
export function checkMacosSea(file: string, blob: Buffer): void {
  const bytes = readFileSync(file);
  const section = parseMachO(bytes)
    .segments.find((s) => s.name === MACHO_SEGMENT)
    ?.sections.find((s) => s.name === '__NODE_SEA_BLOB');
  if (!section || !bytes.subarray(section.offset, section.offset + section.size).equals(blob)) {
    throw new MachOError(`${file}: the SEA blob is not in ${MACHO_SEGMENT},__NODE_SEA_BLOB`);
  }
  if (!bytes.includes(`${SEA_FUSE}:1`)) throw new MachOError(`${file}: the SEA fuse is not set`);
  const sig = readCodeSignature(bytes);
  if (
    sig.badPages > 0 ||
    (sig.flags & CS_ADHOC) === 0 ||
    sig.codeLimit !== parseMachO(bytes).codeSignature?.dataoff
  ) {
    throw new MachOError(`${file}: the ad-hoc signature does not cover the file (${sig.badPages} bad pages)`);
  }
}

/**
 * The file names `buildCliArtifacts` writes for these single-executable targets, sorted: `<name>.js` and
 * `<name>-<target>` for the plugin (`pcap-cli`) and the standalone CLI (`pcap`), and `SHA256SUMS`. The BOSH
 * release's `pcap-cli` package ships exactly these (bosh/packages/pcap-cli, checked by its tests).
 */
export function cliArtifactNames(targets: readonly SeaTarget[] = SEA_TARGETS): string[] {
  return [
    ...TARGETS.flatMap((t) => [`${t.name}.js`, ...targets.map((target) => `${t.name}-${target}`)]),
    'SHA256SUMS',
  ].sort();
}

export interface BuiltCli {
  /** Absolute paths by file name. */
  readonly files: ReadonlyMap<string, string>;
  /** The single executables' targets (file `<name>-<target>`). */
  readonly targets: readonly SeaTarget[];
}

export interface BuildCliOptions {
  /** Single executables to make; default all of SEA_TARGETS, `[]` for the .js files only. */
  readonly targets?: readonly SeaTarget[];
}

/**
 * Builds into `out` (emptied first). Throws (NodeRuntimeError, MachOError) when a requested target cannot be made,
 * e.g. its Node.js binary cannot be fetched: no target is left out silently.
 */
export async function buildCliArtifacts(out: string, options: BuildCliOptions = {}): Promise<BuiltCli> {
  const OUT = out;
  const targets = options.targets ?? SEA_TARGETS;
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  for (const t of TARGETS) {
    const js = join(OUT, `${t.name}.js`);
    await bundle(t.entry, js);
    for (const target of targets) sea(js, join(OUT, `${t.name}-${target}`), target);
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
  const names = readdirSync(OUT).sort();
  const expected = cliArtifactNames(targets);
  if (names.join('\n') !== expected.join('\n')) {
    throw new Error(`build:cli wrote ${names.join(', ')}; expected ${expected.join(', ')}`);
  }
  const files = new Map(names.map((f) => [f, join(OUT, f)] as const));
  return { files, targets };
}
