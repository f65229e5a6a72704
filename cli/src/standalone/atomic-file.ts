import { chmodSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Replaces `path` atomically (temp file in the same folder, then rename), keeping its permission bits. */
export function writeFileAtomically(path: string, data: string): void {
  const mode = statSync(path).mode & 0o777;
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    writeFileSync(temp, data, { mode, flag: 'wx' });
    chmodSync(temp, mode);
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}
