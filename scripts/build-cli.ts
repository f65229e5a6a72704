/**
 * `npm run build:cli [-- [OUT] [--targets linux-amd64,darwin-amd64,darwin-arm64|none]]`: the cf CLI plugin and the
 * standalone `pcap` CLI into dist/cli/ (what the API serves under /cli/ when `cli.binaries_dir` names that
 * folder), with single executables for every target unless --targets narrows them. Exits 1 naming the reason when
 * a target cannot be made. See cli/build/cli-artifacts.ts.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';

import { buildCliArtifacts } from '../cli/build/cli-artifacts';
import { SEA_TARGETS, type SeaTarget } from '../cli/build/node-runtime';

function parseTargets(value: string): SeaTarget[] {
  if (value === 'none') return [];
  return value.split(',').map((t) => {
    if (!(SEA_TARGETS as readonly string[]).includes(t)) {
      throw new Error(`unknown target '${t}'; targets: ${SEA_TARGETS.join(', ')}, none`);
    }
    return t as SeaTarget;
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const at = args.indexOf('--targets');
  const targets = at >= 0 ? parseTargets(args.splice(at, 2)[1] ?? '') : undefined;
  const out = args[0] ?? join(__dirname, '..', 'dist', 'cli');
  const start = Date.now();
  const built = await buildCliArtifacts(out, targets ? { targets } : {});
  for (const path of built.files.values()) {
    console.log(`build:cli: ${path} (${(statSync(path).size / 1e6).toFixed(1)} MB)`);
  }
  console.log(
    `build:cli: single executables for ${built.targets.join(', ') || 'no target'} in ${((Date.now() - start) / 1000).toFixed(1)} s`,
  );
}

main().catch((err: unknown) => {
  console.error(`build:cli: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
