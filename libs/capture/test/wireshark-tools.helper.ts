/**
 * Runs the real Wireshark command-line tools on files our code wrote. Every run must exit 0 and print nothing on
 * stderr except the fixed notice dumpcap-based tools print when run as root; anything else fails the test.
 */
import { execFile } from 'node:child_process';

const ROOT_NOTICE = /^Running as user "root" and group "root"\. This could be dangerous\.$/;

export interface ToolRun {
  readonly stdout: string;
  /** stderr without the root notice. */
  readonly stderr: string;
  readonly code: number;
}

/** Runs a tool; never throws for a non-zero exit (the result says). */
export function runTool(command: string, args: readonly string[]): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { encoding: 'utf8', maxBuffer: 256 << 20 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`cannot run ${command}: ${error.message}`));
        return;
      }
      const cleaned = stderr
        .split('\n')
        .filter((line) => line.trim() !== '' && !ROOT_NOTICE.test(line))
        .join('\n');
      resolve({ stdout, stderr: cleaned, code: typeof error?.code === 'number' ? error.code : 0 });
    });
  });
}

/** Runs a tool and throws with its stderr unless it exited 0 with a clean stderr. */
export async function runClean(command: string, args: readonly string[]): Promise<string> {
  const run = await runTool(command, args);
  if (run.code !== 0 || run.stderr !== '') {
    throw new Error(`${command} ${args.join(' ')} exited ${run.code}: ${run.stderr}`);
  }
  return run.stdout;
}

/** `tshark -r file -T fields -e ...` rows (tab-separated fields), clean run required. */
export async function tsharkFields(
  file: string,
  fields: readonly string[],
  extra: readonly string[] = [],
): Promise<string[][]> {
  const out = await runClean('tshark', [
    '-r',
    file,
    ...extra,
    '-T',
    'fields',
    ...fields.flatMap((f) => ['-e', f]),
  ]);
  return out
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split('\t'));
}

/**
 * Fields of the file *structure* as Wireshark's own pcapng block dissector sees it (`-X read_format:MIME Files
 * Format` turns the whole file into one frame dissected block by block): an independent check of block layout,
 * options and ISB counters. Multiple occurrences of a field are comma-separated.
 */
export async function pcapngStructure(file: string, fields: readonly string[]): Promise<string[]> {
  const rows = await tsharkFields(file, fields, [
    '-X',
    'read_format:MIME Files Format',
    '-E',
    'occurrence=a',
  ]);
  const row = rows[0];
  if (row === undefined) throw new Error(`no structure for ${file}`);
  return row;
}

/** `capinfos -M file`, clean run required; returns the text. */
export function capinfos(file: string): Promise<string> {
  return runClean('capinfos', ['-M', file]);
}

/** A `Key: value` (or `Key = value`) line of capinfos output, trimmed; throws if absent. */
export function capinfosValue(text: string, key: string): string {
  const match = new RegExp(`^\\s*${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*[:=]\\s*(.*)$`, 'm').exec(
    text,
  );
  if (match?.[1] === undefined) throw new Error(`capinfos output has no "${key}":\n${text}`);
  return match[1].trim();
}
