import { createWriteStream, existsSync, linkSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

import { FILE_BUFFER_BYTES, framerFor } from './block-framer';
import { CAPTURE_FLAGS, type FlagSpec, flagHelp, parseFlags } from './capture-flags';
import { formatBytes } from './capture-progress';
import { CliError, ExitCode, type ExitCodeValue } from './cli.errors';
import { openHttp, readBody } from './http-request';
import {
  apiCallError,
  formatTable,
  listOf,
  type PcapApi,
  pcapApiJson,
  pcapApiOf,
  STORED_FEATURE,
  text,
} from './pcap-api';
import { commonOf, COMMON_FLAGS, findApp, type SubcommandContext } from './schedule.command';

const SINK_FLAG: FlagSpec = {
  long: 'sink',
  value: 'NAME',
  help: 'the sink the capture is stored in (required)',
};
const LIST_FLAGS: readonly FlagSpec[] = [SINK_FLAG, ...COMMON_FLAGS];
const DOWNLOAD_FLAGS: readonly FlagSpec[] = [
  SINK_FLAG,
  {
    long: 'file',
    short: 'o',
    value: 'FILE',
    help: "write the capture to FILE (atomically: a temp file renamed at the end); '-' writes it to stdout",
  },
  CAPTURE_FLAGS.find((f) => f.long === 'force')!,
  {
    long: 'all',
    help: "every part: -o DIR writes DIR/<CAPTURE_ID>-<PART>.pcapng each (DIR made if missing); '-o -' writes them one after the other (a pcapng of several sections, | tshark -r -); with --url one URL per line",
  },
  { long: 'url', help: 'print a short-lived presigned URL of the object instead of downloading it' },
  ...COMMON_FLAGS,
];

const USAGES: Readonly<Record<string, string>> = {
  list: 'stored list APP --sink NAME [--json]',
  download: 'stored download APP CAPTURE_ID [PART] --sink NAME (-o FILE|- [--force] | --url)',
  'download-all': 'stored download APP CAPTURE_ID --all --sink NAME (-o DIR|- [--force] | --url)',
};

/** The `stored` lines of the usage (plugin metadata, help). */
export const STORED_USAGE = Object.values(USAGES);

export function storedHelp(command: string, sub?: string): string {
  const usage = (s: string): string => `   ${command} ${USAGES[s]}`;
  if (sub === 'list' || sub === 'download') {
    const what =
      sub === 'list'
        ? 'List the captures of an app stored in a sink (scheduled runs, captures sent with --sink).'
        : 'Download one part of a stored capture (streamed; checked to be whole pcapng). Without PART, the only part;\nwith --all, every part.';
    const usages = sub === 'list' ? usage(sub) : `${usage('download')}\n${usage('download-all')}`;
    return `${what}\n\nUSAGE:\n${usages}\n\nOPTIONS:\n${flagHelp(sub === 'list' ? LIST_FLAGS : DOWNLOAD_FLAGS)}\n`;
  }
  return `Stored captures: what scheduled runs and captures with --sink stored in an operator-configured sink.

USAGE:
${Object.keys(USAGES).map(usage).join('\n')}

EXAMPLES:
   ${command} stored list my-app --sink archive
   ${command} stored download my-app 4b7c0e2a-... --sink archive -o run.pcapng
   ${command} stored download my-app 4b7c0e2a-... 2 --sink archive -o - | tshark -r -
   ${command} stored download my-app 4b7c0e2a-... --all --sink archive -o run-parts/

'${command} stored SUBCOMMAND -h' shows its options.
`;
}

/** `stored list|download ...`. */
export async function storedCommand(args: readonly string[], ctx: SubcommandContext): Promise<ExitCodeValue> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    ctx.io.stdout.write(storedHelp(ctx.command));
    return sub === undefined ? ExitCode.USAGE : ExitCode.OK;
  }
  if (sub !== 'list' && sub !== 'download') {
    throw new CliError(ExitCode.USAGE, `unknown stored command '${sub}'; one of: list, download`);
  }
  const { positionals, flags } = parseFlags(rest, sub === 'list' ? LIST_FLAGS : DOWNLOAD_FLAGS);
  if (flags.has('help')) {
    ctx.io.stdout.write(storedHelp(ctx.command, sub));
    return ExitCode.OK;
  }
  const common = commonOf(flags);
  const sink = flags.get('sink')?.[0];
  const problems: string[] = [];
  if (sink === undefined) problems.push('--sink NAME is required (the sink the captures are stored in)');
  const want = sub === 'list' ? 'APP' : 'APP CAPTURE_ID [PART]';
  const max = sub === 'list' ? 1 : 3;
  const min = sub === 'list' ? 1 : 2;
  if (positionals.length < min || positionals.length > max)
    problems.push(
      `expected ${want}; got ${positionals.length === 0 ? 'nothing' : `'${positionals.join("', '")}'`}`,
    );
  const part = positionals[2];
  if (part !== undefined && !/^\d{1,6}$/.test(part)) problems.push(`PART: '${part}' is not a part number`);
  const output = flags.get('file')?.[0];
  const url = flags.has('url');
  const all = flags.has('all');
  if (sub === 'download') {
    if (all && part !== undefined) problems.push('give either PART or --all');
    if (url && output !== undefined) problems.push(`give either -o ${all ? 'DIR' : 'FILE'} or --url`);
    if (!url && output === undefined)
      problems.push(`name the output: -o ${all ? 'DIR' : 'FILE'}, or -o - for stdout`);
    if (output === '-' && ctx.io.stdout.isTTY === true)
      problems.push('stdout is a terminal; pipe it (| tshark -r -) or use -o FILE');
  }
  if (problems.length > 0) throw new CliError(ExitCode.USAGE, problems.join('\n'));
  if (!all && output !== undefined && output !== '-' && !flags.has('force') && existsSync(output)) {
    throw new CliError(ExitCode.USAGE, `'${output}' exists; use --force to overwrite it`);
  }

  const session = await ctx.session();
  const app = await findApp(session, positionals[0]!);
  const api = pcapApiOf(session, common, ctx.env);
  const query = `app_guid=${encodeURIComponent(app.guid)}&sink=${encodeURIComponent(sink!)}`;
  const out = ctx.io.stdout;

  if (sub === 'list') {
    const body = await pcapApiJson(api, 'GET', `/stored-captures?${query}`, { feature: STORED_FEATURE });
    const captures = listOf(body, 'captures');
    if (flags.has('json')) out.write(`${JSON.stringify(body, null, 2)}\n`);
    else if (captures.length === 0) out.write(`No captures of ${app.name} stored in sink '${sink}'.\n`);
    else out.write(capturesTable(captures));
    return ExitCode.OK;
  }

  const captureId = positionals[1]!;
  if (all)
    return downloadAll(
      api,
      query,
      captureId,
      sink!,
      { output, url, json: flags.has('json'), force: flags.has('force') },
      ctx,
    );
  const partNumber = part === undefined ? await onlyPart(api, query, captureId, sink!) : Number(part);
  const path = `/stored-captures/${encodeURIComponent(captureId)}/${partNumber}?${query}`;
  if (url) {
    const body = (await pcapApiJson(api, 'GET', `${path}&presign=true`, {
      feature: STORED_FEATURE,
    })) as Record<string, unknown>;
    if (typeof body?.url !== 'string') throw new CliError(ExitCode.FAILED, 'the pcap API answered no url');
    if (flags.has('json')) out.write(`${JSON.stringify(body, null, 2)}\n`);
    else out.write(`${body.url}\n`);
    return ExitCode.OK;
  }
  const size = await download(api, path, output!, flags.has('force'), ctx);
  ctx.io.stderr.write(
    `${formatBytes(size)} of capture ${captureId} part ${partNumber} → ${output === '-' ? 'stdout' : output}\n`,
  );
  return ExitCode.OK;
}

/** The part numbers of a stored capture, ascending; exit 5 when the sink holds none. */
async function partsOf(api: PcapApi, query: string, captureId: string, sink: string): Promise<number[]> {
  const body = await pcapApiJson(api, 'GET', `/stored-captures?${query}`, { feature: STORED_FEATURE });
  const capture = listOf(body, 'captures').find((c) => c.capture_id === captureId);
  const parts = (
    Array.isArray(capture?.objects) ? (capture.objects as Array<Record<string, unknown>>) : []
  ).map((o) => Number(o.part));
  if (parts.length === 0) {
    throw new CliError(ExitCode.NOT_FOUND, `No capture ${captureId} is stored in sink '${sink}'.`);
  }
  return parts.sort((a, b) => a - b);
}

/** The part to download when none was named: the only one, else a usage error listing them. */
async function onlyPart(api: PcapApi, query: string, captureId: string, sink: string): Promise<number> {
  const parts = await partsOf(api, query, captureId, sink);
  if (parts.length === 1) return parts[0]!;
  throw new CliError(
    ExitCode.USAGE,
    `capture ${captureId} has ${parts.length} parts (${parts.join(', ')}); name the PART to download`,
  );
}

/**
 * `--all`: every part, in order, into DIR (one file each, each written as one download is; existing files are
 * refused before the first one is fetched unless --force), onto stdout one after the other, or as presigned URLs.
 */
async function downloadAll(
  api: PcapApi,
  query: string,
  captureId: string,
  sink: string,
  options: { output: string | undefined; url: boolean; json: boolean; force: boolean },
  ctx: SubcommandContext,
): Promise<ExitCodeValue> {
  const parts = await partsOf(api, query, captureId, sink);
  const pathOf = (p: number): string => `/stored-captures/${encodeURIComponent(captureId)}/${p}?${query}`;
  if (options.url) {
    const urls: unknown[] = [];
    for (const p of parts) {
      const body = (await pcapApiJson(api, 'GET', `${pathOf(p)}&presign=true`, {
        feature: STORED_FEATURE,
      })) as Record<string, unknown>;
      if (typeof body?.url !== 'string') throw new CliError(ExitCode.FAILED, 'the pcap API answered no url');
      urls.push(options.json ? { part: p, ...body } : body.url);
    }
    ctx.io.stdout.write(options.json ? `${JSON.stringify(urls, null, 2)}\n` : `${urls.join('\n')}\n`);
    return ExitCode.OK;
  }
  const output = options.output!;
  const files = parts.map((p) =>
    output === '-' ? '-' : join(output, `${captureId}-${String(p).padStart(6, '0')}.pcapng`),
  );
  if (output !== '-') {
    const existing = files.filter((f) => existsSync(f));
    if (existing.length > 0 && !options.force) {
      throw new CliError(
        ExitCode.USAGE,
        `${existing.map((f) => `'${f}'`).join(', ')} exist${existing.length === 1 ? 's' : ''}; use --force to overwrite`,
      );
    }
    try {
      mkdirSync(output, { recursive: true });
    } catch (err) {
      throw new CliError(ExitCode.FAILED, `cannot make folder '${output}': ${(err as Error).message}`);
    }
  }
  let total = 0;
  for (const [i, p] of parts.entries()) {
    const size = await download(api, pathOf(p), files[i]!, options.force, ctx);
    total += size;
    ctx.io.stderr.write(
      `${formatBytes(size)} of capture ${captureId} part ${p} → ${files[i] === '-' ? 'stdout' : files[i]}\n`,
    );
  }
  ctx.io.stderr.write(
    `${parts.length} part(s), ${formatBytes(total)} of capture ${captureId} → ${output === '-' ? 'stdout' : output}\n`,
  );
  return ExitCode.OK;
}

/**
 * Streams one object to FILE (a temp file in the same folder, linked or renamed into place only when complete) or
 * stdout, passing only whole pcapng blocks: an answer that is not pcapng, or that ends early, fails (exit 1 / 10)
 * and leaves no file behind.
 */
async function download(
  api: PcapApi,
  path: string,
  output: string,
  force: boolean,
  ctx: SubcommandContext,
): Promise<number> {
  const url = `${api.url}${path}`;
  const res = await openHttp({
    method: 'GET',
    url,
    headers: { authorization: api.authorization },
    insecure: api.insecure,
    system: 'the pcap API',
  });
  const status = res.statusCode ?? 0;
  if (status !== 200) {
    const raw = await readBody(res);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      body = undefined;
    }
    throw apiCallError(status, body, url, STORED_FEATURE);
  }
  const toStdout = output === '-';
  const temp = toStdout ? '' : join(dirname(output), `.${basename(output)}.${process.pid}.${Date.now()}.tmp`);
  let out: NodeJS.WritableStream;
  if (toStdout) out = ctx.io.stdout;
  else {
    const file = createWriteStream(temp, { flags: 'wx', mode: 0o644, highWaterMark: FILE_BUFFER_BYTES });
    try {
      await new Promise<void>((resolve, reject) => file.once('open', () => resolve()).once('error', reject));
    } catch (err) {
      res.destroy();
      throw new CliError(ExitCode.FAILED, `cannot write '${output}': ${(err as Error).message}`);
    }
    out = file;
  }
  const framer = framerFor('pcapng');
  let head = Buffer.alloc(0);
  let size = 0;
  let failure: CliError | undefined;
  let writeError: Error | undefined;
  out.on('error', (err: Error) => {
    writeError = err;
    res.destroy();
  });
  out.on('drain', () => res.resume());
  try {
    await new Promise<void>((resolve) => {
      res.on('data', (chunk: Buffer) => {
        if (failure !== undefined) return;
        if (head.length < 4) {
          head = Buffer.concat([head, chunk]).subarray(0, 4);
          if (head.length === 4 && head.readUInt32LE(0) !== 0x0a0d0d0a) {
            failure = new CliError(
              ExitCode.FAILED,
              'the download is not a pcapng file (no Section Header Block)',
            );
            res.destroy();
            return;
          }
        }
        let blocks: Buffer[];
        try {
          blocks = framer.push(chunk).blocks;
        } catch (err) {
          failure = err instanceof CliError ? err : new CliError(ExitCode.FAILED, String(err));
          res.destroy();
          return;
        }
        let ok = true;
        for (const b of blocks) {
          size += b.length;
          ok = out.write(b) && ok;
        }
        if (!ok) res.pause();
      });
      res.once('close', () => resolve());
      res.once('error', () => undefined);
    });
    if (
      failure === undefined &&
      writeError === undefined &&
      (!res.complete || framer.pendingBytes > 0 || size === 0)
    ) {
      failure = new CliError(
        ExitCode.STREAM_BROKEN,
        `the download broke before its end (${formatBytes(size)} received)${toStdout ? '' : `; '${output}' was not written`}`,
      );
    }
    if (toStdout) {
      await new Promise<void>((resolve) => (out.write('') ? resolve() : out.once('drain', () => resolve())));
    } else {
      await new Promise<void>((resolve) => out.end(() => resolve()));
    }
    if (failure !== undefined) throw failure;
    if (writeError !== undefined)
      throw new CliError(ExitCode.FAILED, `cannot write '${output}': ${writeError.message}`);
    if (!toStdout) {
      if (force) renameSync(temp, output);
      else {
        // Without --force a file that appeared meanwhile is not replaced: link fails if the name exists.
        try {
          linkSync(temp, output);
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          throw new CliError(
            e.code === 'EEXIST' ? ExitCode.USAGE : ExitCode.FAILED,
            e.code === 'EEXIST'
              ? `'${output}' exists; use --force to overwrite it`
              : `cannot write '${output}': ${e.message}`,
          );
        }
      }
    }
    return size;
  } finally {
    if (!toStdout) rmSync(temp, { force: true });
  }
}

function capturesTable(captures: ReadonlyArray<Record<string, unknown>>): string {
  const rows: string[][] = [];
  for (const c of captures) {
    const objects = Array.isArray(c.objects) ? (c.objects as Array<Record<string, unknown>>) : [];
    for (const o of objects) {
      rows.push([
        text(c.capture_id),
        text(o.part),
        typeof o.size === 'number' ? formatBytes(o.size) : text(o.size),
        text(o.last_modified),
      ]);
    }
  }
  return formatTable(['CAPTURE ID', 'PART', 'SIZE', 'LAST MODIFIED'], rows);
}
