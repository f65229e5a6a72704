import { CliError, ExitCode } from './cli.errors';

/** One flag of the command line. */
export interface FlagSpec {
  readonly long: string;
  readonly short?: string;
  readonly value?: string;
  readonly repeatable?: boolean;
  readonly help: string;
}

/** Flags shared by `cf pcap APP`, `pcap APP` and `pcap bosh`, in the order the help lists them. */
export const CAPTURE_FLAGS: readonly FlagSpec[] = [
  {
    long: 'file',
    short: 'o',
    value: 'FILE',
    help: "write the capture to FILE; '-' writes it to stdout (pipe it into wireshark -k -i -)",
  },
  { long: 'instance', short: 'i', value: 'all|0,1,..', help: 'instance indexes to capture (default all)' },
  { long: 'type', short: 't', value: 'TYPE', help: 'process type (default web)' },
  { long: 'device', short: 'd', value: 'DEVICE', help: 'network device in the container (default eth0)' },
  { long: 'filter', short: 'f', value: 'FILTER', help: "libpcap filter, e.g. 'tcp port 8080'" },
  {
    long: 'snaplen',
    short: 's',
    value: 'BYTES',
    help: 'bytes kept of each packet (default: the API maximum, 65535)',
  },
  { long: 'duration', value: 'D', help: 'stop after D (90, 90s, 5m, 1h30m; default: the API maximum)' },
  { long: 'max-bytes', value: 'N', help: 'stop after N captured bytes (suffixes K, M, G = 1024-based)' },
  { long: 'max-packets', value: 'N', help: 'stop after N packets' },
  {
    long: 'format',
    value: 'pcapng|pcap',
    help: 'file format (default pcapng; pcap keeps no per-instance interfaces and no messages)',
  },
  {
    long: 'sink',
    value: 'NAME',
    help: "also store the capture in the operator-configured sink NAME (an S3 bucket; see 'stored')",
  },
  { long: 'force', help: 'overwrite FILE if it exists' },
  {
    long: 'api',
    value: 'URL',
    help: 'pcap API URL (default: the CF API URL with api. replaced by pcap.; env PCAP_API)',
  },
  { long: 'insecure', short: 'k', help: 'do not verify the pcap API TLS certificate' },
  { long: 'quiet', short: 'q', help: 'no progress, messages or summary on stderr (errors still)' },
  { long: 'help', short: 'h', help: 'show this help' },
];

/** Extra flags of `pcap bosh`. */
export const BOSH_FLAGS: readonly FlagSpec[] = [
  { long: 'deployment', short: 'd', value: 'NAME', help: 'BOSH deployment (required)' },
  {
    long: 'instance-group',
    short: 'g',
    value: 'GROUP',
    repeatable: true,
    help: 'instance group, repeatable (required)',
  },
  {
    long: 'instance-id',
    value: 'ID',
    repeatable: true,
    help: 'instance id within the groups, repeatable (default all)',
  },
  {
    long: 'environment',
    short: 'e',
    value: 'ENV',
    help: 'BOSH environment alias or URL (env BOSH_ENVIRONMENT; default the only one)',
  },
  { long: 'bosh-config', value: 'FILE', help: 'BOSH CLI config (default ~/.bosh/config; env BOSH_CONFIG)' },
  { long: 'interface', value: 'DEVICE', help: 'network device of the VM (default eth0)' },
];

export type ParsedFlags = ReadonlyMap<string, readonly string[]>;

/** Splits `args` into positionals and flags (`--x v`, `--x=v`, `-x v`; `--` ends the flags). */
export function parseFlags(
  args: readonly string[],
  specs: readonly FlagSpec[],
): { positionals: string[]; flags: ParsedFlags } {
  const flags = new Map<string, string[]>();
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--')
      ? arg.slice(2, eq > 0 ? eq : undefined)
      : arg.slice(1, eq > 0 ? eq : undefined);
    const spec = arg.startsWith('--')
      ? specs.find((s) => s.long === name)
      : specs.find((s) => s.short === name);
    if (spec === undefined)
      throw new CliError(ExitCode.USAGE, `unknown flag '${arg.slice(0, eq > 0 ? eq : undefined)}'`);
    let value = 'true';
    if (spec.value !== undefined) {
      if (eq > 0) value = arg.slice(eq + 1);
      else {
        const next = args[i + 1];
        if (next === undefined)
          throw new CliError(ExitCode.USAGE, `flag '${arg}' needs a value (${spec.value})`);
        value = next;
        i++;
      }
    } else if (eq > 0) {
      throw new CliError(ExitCode.USAGE, `flag '--${spec.long}' takes no value`);
    }
    const list = flags.get(spec.long) ?? [];
    if (list.length > 0 && spec.repeatable !== true) {
      throw new CliError(ExitCode.USAGE, `flag '--${spec.long}' given twice`);
    }
    list.push(value);
    flags.set(spec.long, list);
  }
  return { positionals, flags };
}

/** The flags' help lines (`-o, --file FILE  ...`). */
export function flagHelp(specs: readonly FlagSpec[]): string {
  const rows = specs.map(
    (s) =>
      [`${s.short ? `-${s.short}, ` : '    '}--${s.long}${s.value ? ` ${s.value}` : ''}`, s.help] as const,
  );
  const width = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([l, h]) => `   ${l.padEnd(width)}  ${h}`).join('\n');
}

/** `Options` of the plugin metadata: flag name → help (cf prints them under OPTIONS for `cf pcap -h`). */
export function flagOptions(specs: readonly FlagSpec[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of specs)
    if (s.long !== 'help') out[s.short ? `${s.short}, -${s.long}` : `-${s.long}`] = s.help;
  return out;
}

/** What the user asked for, validated (the API validates again against its limits). */
export interface CaptureOptions {
  /** A path, '-' for stdout, or undefined (stdout when it is not a terminal). */
  readonly output: string | undefined;
  readonly instances: 'all' | readonly number[];
  readonly processType: string | undefined;
  readonly device: string | undefined;
  readonly filter: string | undefined;
  readonly snaplen: number | undefined;
  readonly durationSeconds: number | undefined;
  readonly maxBytes: number | undefined;
  readonly maxPackets: number | undefined;
  readonly format: 'pcapng' | 'pcap';
  readonly sink: string | undefined;
  readonly force: boolean;
  readonly api: string | undefined;
  readonly insecure: boolean;
  readonly quiet: boolean;
}

function one(flags: ParsedFlags, name: string): string | undefined {
  return flags.get(name)?.[0];
}

/** Reads the shared capture flags; every problem is reported at once. */
export function captureOptionsOf(flags: ParsedFlags): CaptureOptions {
  const problems: string[] = [];
  const instancesText = one(flags, 'instance');
  let instances: 'all' | number[] = 'all';
  if (instancesText !== undefined && instancesText !== 'all') {
    const parts = instancesText.split(',').map((p) => p.trim());
    if (parts.some((p) => !/^\d{1,6}$/.test(p)))
      problems.push(`--instance: '${instancesText}' is not 'all' or a list of indexes like 0,2`);
    else instances = [...new Set(parts.map(Number))];
  }
  const int = (name: string, parse: (t: string) => number | undefined = parseCount): number | undefined => {
    const text = one(flags, name);
    if (text === undefined) return undefined;
    const n = parse(text);
    if (n === undefined || n <= 0) problems.push(`--${name}: '${text}' is not a positive number`);
    return n;
  };
  const snaplen = int('snaplen');
  const durationSeconds = int('duration', parseDuration);
  const maxBytes = int('max-bytes', parseSize);
  const maxPackets = int('max-packets');
  const format = one(flags, 'format') ?? 'pcapng';
  if (format !== 'pcapng' && format !== 'pcap') problems.push(`--format: '${format}' is not pcapng or pcap`);
  const api = one(flags, 'api');
  if (api !== undefined && !/^https?:\/\/[^/]/.test(api))
    problems.push(`--api: '${api}' is not an http(s) URL`);
  if (problems.length > 0) throw new CliError(ExitCode.USAGE, problems.join('\n'));
  return {
    output: one(flags, 'file'),
    instances,
    processType: one(flags, 'type'),
    device: one(flags, 'device') ?? one(flags, 'interface'),
    filter: one(flags, 'filter'),
    snaplen,
    durationSeconds,
    maxBytes,
    maxPackets,
    format: format as 'pcapng' | 'pcap',
    sink: one(flags, 'sink'),
    force: flags.has('force'),
    api,
    insecure: flags.has('insecure'),
    quiet: flags.has('quiet'),
  };
}

function parseCount(text: string): number | undefined {
  return /^\d{1,15}$/.test(text) ? Number(text) : undefined;
}

/** `90`, `90s`, `5m`, `1h30m`, `2h` → seconds. */
export function parseDuration(text: string): number | undefined {
  if (/^\d{1,9}$/.test(text)) return Number(text);
  const m = /^(?:(\d{1,6})h)?(?:(\d{1,7})m)?(?:(\d{1,9})s)?$/.exec(text);
  if (m === null || text === '') return undefined;
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

/** `1000`, `64K`, `10M`, `1G` (also KB/KiB/MB/...; 1024-based) → bytes. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d{1,15})\s*(?:([KMG])(?:i?B)?)?$/i.exec(text);
  if (m === null) return undefined;
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(m[2] ?? '').toUpperCase()] ?? 1;
  return Number(m[1]) * unit;
}

/** The pcap API of a CF foundation: the CF API URL with `api.` replaced by `pcap.` (the original plugin's rule). */
export function pcapApiUrlOf(cfApiUrl: string): string {
  const url = new URL(cfApiUrl);
  url.hostname = url.hostname.replace(/^api\./, 'pcap.');
  return url.origin;
}
