/**
 * `npm run build:cli [OUT]`: the cf CLI plugin and the standalone `pcap` CLI into dist/cli/ (what the API serves
 * under /cli/ when `cli.binaries_dir` names that folder). See cli/build/cli-artifacts.ts.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';

import { buildCliArtifacts } from '../cli/build/cli-artifacts';

async function main(): Promise<void> {
  const out = process.argv[2] ?? join(__dirname, '..', 'dist', 'cli');
  const built = await buildCliArtifacts(out);
  for (const path of built.files.values()) {
    console.log(`build:cli: ${path} (${(statSync(path).size / 1e6).toFixed(1)} MB)`);
  }
  if (!built.singleExecutables) {
    console.log(
      `build:cli: no single executable on ${process.platform}-${process.arch}; the .js files run anywhere with Node.js >= 20`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
