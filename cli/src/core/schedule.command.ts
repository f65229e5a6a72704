import type { CfLogin, CfSession } from './app-capture.command';
import { lookupApp } from './app-lookup';
import {
  CAPTURE_FLAGS,
  captureOptionsOf,
  type FlagSpec,
  flagHelp,
  parseDuration,
  parseFlags,
  type ParsedFlags,
} from './capture-flags';
import { captureBodyOf, type CaptureIo } from './capture-run';
import { CliError, ExitCode, type ExitCodeValue } from './cli.errors';
import {
  formatTable,
  listOf,
  type PcapApi,
  pcapApiJson,
  pcapApiOf,
  SCHEDULES_FEATURE,
  text,
} from './pcap-api';

/** What a subcommand needs from its front end: the login or session (asked for only when needed), streams, env. */
export interface SubcommandContext {
  /** `cf pcap` or `pcap`, for help texts. */
  readonly command: string;
  /** The login without the targeted space (the plugin does not call GetCurrentSpace). */
  readonly login: () => Promise<CfLogin>;
  /** The login and the targeted space, for commands naming an APP. */
  readonly session: () => Promise<CfSession>;
  readonly io: CaptureIo;
  readonly env: NodeJS.ProcessEnv;
}

const pick = (...names: string[]): FlagSpec[] => names.map((n) => CAPTURE_FLAGS.find((f) => f.long === n)!);

/** `--api`, `-k`, `--json`, `-h`: every schedule and stored subcommand has them. */
export const COMMON_FLAGS: readonly FlagSpec[] = [
  ...pick('api', 'insecure'),
  { long: 'json', help: 'print the API answer as JSON (for scripts)' },
  { long: 'help', short: 'h', help: 'show this help' },
];

export const CREATE_FLAGS: readonly FlagSpec[] = [
  {
    long: 'at',
    value: 'TIME',
    help: 'run once at TIME: ISO 8601 with a zone (2030-01-31T22:00:00Z, ...+01:00) or +D from now (+10m)',
  },
  {
    long: 'cron',
    value: 'EXPR',
    help: "run by a cron expression: 5 fields, or 6 with seconds first ('0 */6 * * *')",
  },
  { long: 'timezone', value: 'TZ', help: 'IANA time zone of --cron (default UTC), e.g. Europe/Berlin' },
  { long: 'duration', value: 'D', help: 'capture D per run (required; 90, 90s, 5m, 1h30m)' },
  {
    long: 'sink',
    value: 'NAME',
    help: 'operator-configured sink that stores each run (required; an S3 bucket)',
  },
  ...pick('instance', 'type', 'device', 'filter', 'snaplen', 'max-bytes', 'max-packets'),
  ...COMMON_FLAGS,
];

const RUNS_FLAGS: readonly FlagSpec[] = [
  { long: 'limit', value: 'N', help: 'newest N runs (default 100, at most 10000)' },
  ...COMMON_FLAGS,
];

const USAGES: Readonly<Record<string, string>> = {
  create:
    'schedule create APP (--at TIME | --cron EXPR [--timezone TZ]) --duration D --sink NAME [-i all|0,1,..]' +
    ' [-t TYPE] [-d DEVICE] [-f FILTER] [-s SNAPLEN] [--max-bytes N] [--max-packets N] [--json]',
  list: 'schedule list [APP] [--json]',
  show: 'schedule show ID [--json]',
  pause: 'schedule pause ID [--json]',
  resume: 'schedule resume ID [--json]',
  delete: 'schedule delete ID',
  runs: 'schedule runs ID [--limit N] [--json]',
};

/** The `schedule` lines of the usage (plugin metadata, help). */
export const SCHEDULE_USAGE = Object.values(USAGES);

export function scheduleHelp(command: string, sub?: string): string {
  const usage = (s: string): string => `   ${command} ${USAGES[s]}`;
  if (sub !== undefined && USAGES[sub] !== undefined) {
    const flags = sub === 'create' ? CREATE_FLAGS : sub === 'runs' ? RUNS_FLAGS : COMMON_FLAGS;
    return `${SUB_HELP[sub]}\n\nUSAGE:\n${usage(sub)}\n\nOPTIONS:\n${flagHelp(flags)}\n`;
  }
  return `Scheduled captures: the pcap API captures an app without you, once (--at) or by cron (--cron), for
--duration each run, and stores every run's pcapng in an operator-configured sink (list and download them with
'${command} stored').

USAGE:
${Object.keys(USAGES).map(usage).join('\n')}

EXAMPLES:
   ${command} schedule create my-app --at +10m --duration 5m --sink archive -f 'tcp port 443'
   ${command} schedule create my-app --cron '0 */6 * * *' --timezone Europe/Berlin --duration 5m --sink archive
   ${command} schedule runs 6c0d0c8e-...

'${command} schedule SUBCOMMAND -h' shows its options.
`;
}

const SUB_HELP: Readonly<Record<string, string>> = {
  create: 'Create a schedule for an app of the targeted space (you must be a space developer of it).',
  list: 'List your schedules, or with APP every schedule of that app of the targeted space.',
  show: 'Show one schedule.',
  pause: 'Pause a schedule: no runs until it is resumed.',
  resume: 'Resume a paused schedule; its next occurrence is computed from now.',
  delete: 'Delete a schedule and its run records (stored captures stay in the sink).',
  runs: 'List the runs of a schedule, newest first, with their outcome and the capture id they stored.',
};

/** `schedule SUBCOMMAND ...`. */
export async function scheduleCommand(
  args: readonly string[],
  ctx: SubcommandContext,
): Promise<ExitCodeValue> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    ctx.io.stdout.write(scheduleHelp(ctx.command));
    return sub === undefined ? ExitCode.USAGE : ExitCode.OK;
  }
  if (USAGES[sub] === undefined) {
    throw new CliError(
      ExitCode.USAGE,
      `unknown schedule command '${sub}'; one of: ${Object.keys(USAGES).join(', ')}`,
    );
  }
  const specs = sub === 'create' ? CREATE_FLAGS : sub === 'runs' ? RUNS_FLAGS : COMMON_FLAGS;
  const { positionals, flags } = parseFlags(rest, specs);
  if (flags.has('help')) {
    ctx.io.stdout.write(scheduleHelp(ctx.command, sub));
    return ExitCode.OK;
  }
  const common = commonOf(flags);
  const json = flags.has('json');
  const out = ctx.io.stdout;

  if (sub === 'create') {
    const app = onePositional(positionals, 'APP', 'the app to schedule');
    const body = createBodyOf(flags);
    const session = await ctx.session();
    const found = await findApp(session, app);
    const api = pcapApiOf(session, common, ctx.env);
    const created = await pcapApiJson(api, 'POST', '/schedules', {
      json: { app_guid: found.guid, ...body },
      expect: 201,
      feature: SCHEDULES_FEATURE,
    });
    out.write(json ? `${JSON.stringify(created, null, 2)}\n` : showText(created, 'created'));
    return ExitCode.OK;
  }

  if (sub === 'list') {
    if (positionals.length > 1) throw new CliError(ExitCode.USAGE, 'at most one app');
    const app = positionals[0];
    let query = '';
    let api: PcapApi;
    if (app === undefined) api = await apiOf(ctx, common);
    else {
      const session = await ctx.session();
      api = pcapApiOf(session, common, ctx.env);
      query = `?app_guid=${encodeURIComponent((await findApp(session, app)).guid)}`;
    }
    const body = await pcapApiJson(api, 'GET', `/schedules${query}`, { feature: SCHEDULES_FEATURE });
    const list = listOf(body, 'resources');
    if (json) out.write(`${JSON.stringify(body, null, 2)}\n`);
    else if (list.length === 0) out.write('No schedules.\n');
    else out.write(scheduleTable(list));
    return ExitCode.OK;
  }

  const id = onePositional(positionals, 'ID', 'the schedule id');
  const path = `/schedules/${encodeURIComponent(id)}`;
  const api = await apiOf(ctx, common);
  switch (sub) {
    case 'show': {
      const body = await pcapApiJson(api, 'GET', path, { feature: SCHEDULES_FEATURE });
      out.write(json ? `${JSON.stringify(body, null, 2)}\n` : showText(body));
      return ExitCode.OK;
    }
    case 'pause':
    case 'resume': {
      const body = await pcapApiJson(api, 'POST', `${path}/${sub}`, { feature: SCHEDULES_FEATURE });
      out.write(json ? `${JSON.stringify(body, null, 2)}\n` : showText(body, `${sub}d`));
      return ExitCode.OK;
    }
    case 'delete':
      await pcapApiJson(api, 'DELETE', path, { expect: 204, feature: SCHEDULES_FEATURE });
      if (json) out.write(`${JSON.stringify({ id, deleted: true })}\n`);
      else out.write(`Schedule ${id} deleted (its stored captures stay in the sink).\n`);
      return ExitCode.OK;
    default: {
      const limitText = flags.get('limit')?.[0];
      if (limitText !== undefined && !/^\d{1,5}$/.test(limitText)) {
        throw new CliError(ExitCode.USAGE, `--limit: '${limitText}' is not a number from 1 to 10000`);
      }
      const query = limitText === undefined ? '' : `?limit=${limitText}`;
      const body = await pcapApiJson(api, 'GET', `${path}/runs${query}`, { feature: SCHEDULES_FEATURE });
      const runs = listOf(body, 'resources');
      if (json) out.write(`${JSON.stringify(body, null, 2)}\n`);
      else if (runs.length === 0) out.write('No runs yet.\n');
      else out.write(runsTable(runs));
      return ExitCode.OK;
    }
  }
}

/** `--api` and `-k` of a subcommand. */
export function commonOf(flags: ParsedFlags): { api: string | undefined; insecure: boolean } {
  const api = flags.get('api')?.[0];
  if (api !== undefined && !/^https?:\/\/[^/]/.test(api))
    throw new CliError(ExitCode.USAGE, `--api: '${api}' is not an http(s) URL`);
  return { api, insecure: flags.has('insecure') };
}

export function onePositional(positionals: readonly string[], name: string, what: string): string {
  if (positionals.length === 1) return positionals[0]!;
  throw new CliError(
    ExitCode.USAGE,
    positionals.length === 0
      ? `name ${what} (${name})`
      : `one ${name} only; got '${positionals.join("', '")}'`,
  );
}

/** Looks the app up in the targeted space (CC v3); no space targeted is exit 4. */
export async function findApp(session: CfSession, app: string): Promise<{ guid: string; name: string }> {
  if (session.space.guid === '') {
    throw new CliError(ExitCode.NO_TARGET, "No space targeted. Use 'cf target -s SPACE' first.");
  }
  return lookupApp({
    ccUrl: session.apiEndpoint,
    accessToken: session.accessToken,
    spaceGuid: session.space.guid,
    spaceName: session.space.name,
    appName: app,
    insecure: session.sslDisabled,
  });
}

async function apiOf(
  ctx: SubcommandContext,
  common: { api: string | undefined; insecure: boolean },
): Promise<PcapApi> {
  return pcapApiOf(await ctx.login(), common, ctx.env);
}

/** The `POST /schedules` body without `app_guid`; usage problems are reported at once (exit 2). */
export function createBodyOf(flags: ParsedFlags, now = Date.now()): Record<string, unknown> {
  const problems: string[] = [];
  const one = (n: string): string | undefined => flags.get(n)?.[0];
  const at = one('at');
  const cron = one('cron');
  const timezone = one('timezone');
  if ((at === undefined) === (cron === undefined))
    problems.push('give exactly one of --at TIME and --cron EXPR');
  if (timezone !== undefined && cron === undefined) problems.push('--timezone goes with --cron');
  let atIso: string | undefined;
  if (at !== undefined) {
    if (at.startsWith('+')) {
      const seconds = parseDuration(at.slice(1));
      if (seconds === undefined || seconds <= 0) problems.push(`--at: '${at}' is not +D (like +90s, +10m)`);
      else atIso = new Date(now + seconds * 1000).toISOString();
    } else {
      // The API checks the time (zone required, in the future); only the obvious is caught here.
      atIso = at;
    }
  }
  if (!flags.has('duration')) problems.push('--duration D is required (how long each run captures)');
  if (!flags.has('sink')) problems.push('--sink NAME is required (where each run is stored)');
  let options;
  try {
    options = captureOptionsOf(flags);
  } catch (err) {
    if (err instanceof CliError) problems.push(err.message);
    else throw err;
  }
  if (problems.length > 0 || options === undefined) throw new CliError(ExitCode.USAGE, problems.join('\n'));
  return {
    ...(options.processType === undefined ? {} : { process_type: options.processType }),
    instances: options.instances,
    ...captureBodyOf(options),
    ...(atIso === undefined ? {} : { at: atIso }),
    ...(cron === undefined ? {} : { cron }),
    ...(timezone === undefined ? {} : { timezone }),
  };
}

function obj(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
}

function whenOf(s: Record<string, unknown>): string {
  return s.cron !== undefined ? `cron '${text(s.cron)}' ${text(s.timezone)}` : `at ${text(s.at)}`;
}

function scheduleTable(list: ReadonlyArray<Record<string, unknown>>): string {
  return formatTable(
    ['ID', 'APP', 'WHEN', 'DURATION', 'SINK', 'STATE', 'NEXT RUN'],
    list.map((s) => [
      text(s.id),
      text(obj(s.app).name),
      whenOf(s),
      `${text(obj(s.capture).duration_seconds)}s`,
      text(s.sink),
      s.paused_reason ? `${text(s.state)} (${text(s.paused_reason)})` : text(s.state),
      text(s.next_run_at),
    ]),
  );
}

function showText(body: unknown, done?: string): string {
  const s = obj(body);
  const c = obj(s.capture);
  const rows: Array<[string, string]> = [
    ['id', text(s.id)],
    ['app', `${text(obj(s.app).name)} (${text(obj(s.app).guid)})`],
    ['space', `${text(obj(s.org).name)} / ${text(obj(s.space).name)}`],
    ['created by', text(obj(s.created_by).user_name)],
    ['when', whenOf(s)],
    ['sink', text(s.sink)],
    ['capture', captureText(c)],
    ['state', s.paused_reason ? `${text(s.state)} (${text(s.paused_reason)})` : text(s.state)],
    ['next run', text(s.next_run_at) || '-'],
    ['created', text(s.created_at)],
  ];
  const head = done === undefined ? '' : `Schedule ${text(s.id)} ${done}.\n`;
  return head + rows.map(([k, v]) => `${`${k}:`.padEnd(12)}${v}\n`).join('');
}

function captureText(c: Record<string, unknown>): string {
  const parts = [`${text(c.duration_seconds)}s`];
  for (const [key, label] of [
    ['process_type', 'type'],
    ['instances', 'instances'],
    ['device', 'device'],
    ['filter', 'filter'],
    ['snaplen', 'snaplen'],
    ['max_bytes', 'max bytes'],
    ['max_packets', 'max packets'],
  ] as const) {
    if (c[key] !== undefined)
      parts.push(`${label} ${typeof c[key] === 'string' ? `'${c[key]}'` : text(c[key])}`);
  }
  return parts.join(', ');
}

/** The capture id of a run: the folder of its stored objects (`…/<capture id>/<part>.pcapng`). */
export function captureIdOfRun(run: Record<string, unknown>): string {
  const objects = Array.isArray(run.objects) ? (run.objects as unknown[]) : [];
  const first = objects.find((o): o is string => typeof o === 'string');
  return first === undefined ? '' : (/([0-9a-fA-F-]{36})\/\d+\.pcapng$/.exec(first)?.[1] ?? '');
}

function runsTable(runs: ReadonlyArray<Record<string, unknown>>): string {
  return formatTable(
    ['OCCURRENCE', 'OUTCOME', 'PACKETS', 'BYTES', 'DROPS', 'PARTS', 'CAPTURE ID', 'ERROR'],
    runs.map((r) => [
      text(r.occurrence_at),
      text(r.outcome),
      text(r.packets),
      text(r.bytes),
      text(r.drops),
      Array.isArray(r.objects) && r.objects.length > 0 ? String(r.objects.length) : '',
      captureIdOfRun(r),
      text(r.error),
    ]),
  );
}
