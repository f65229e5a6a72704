import type { CfLogin } from './app-capture.command';
import { pcapApiUrlOf } from './capture-flags';
import { apiErrorOf } from './capture-run';
import { CliError, ExitCode } from './cli.errors';
import { httpJson } from './http-request';

/** How to reach the pcap API for one command: base URL, the whole `Authorization` value (never printed), TLS. */
export interface PcapApi {
  readonly url: string;
  readonly authorization: string;
  readonly insecure: boolean;
}

/** `--api`, else `PCAP_API`, else the CF API URL with `api.` replaced by `pcap.`. */
export function pcapApiOf(
  session: CfLogin,
  flags: { readonly api: string | undefined; readonly insecure: boolean },
  env: NodeJS.ProcessEnv,
): PcapApi {
  const url = (flags.api ?? (env.PCAP_API || undefined) ?? pcapApiUrlOf(session.apiEndpoint)).replace(
    /\/+$/,
    '',
  );
  return { url, authorization: session.accessToken, insecure: flags.insecure || session.sslDisabled };
}

/**
 * A route that exists only when the operator enabled a feature: an unknown-route 404 (`HTTP_404`, no domain code)
 * becomes "… not enabled on this pcap API" (exit 11) instead of a confusing "not found".
 */
export interface Feature {
  readonly name: string;
}

export const SCHEDULES_FEATURE: Feature = { name: 'scheduled captures are' };
export const STORED_FEATURE: Feature = { name: 'stored captures are' };

/** True when a 404 answer is the web framework's "no such route", not a domain answer (`SCHEDULE_NOT_FOUND`...). */
export function isUnknownRoute(status: number, body: unknown): boolean {
  if (status !== 404) return false;
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  return (
    typeof b.message === 'string' &&
    (b.code === undefined || b.code === 'HTTP_404') &&
    /^(Cannot [A-Z]+ |Route [A-Z]+:)/.test(b.message)
  );
}

/** One JSON call to the pcap API; any status other than `expect` becomes a CliError with its exit code. */
export async function pcapApiJson(
  api: PcapApi,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  options: { readonly json?: unknown; readonly expect?: number; readonly feature: Feature },
): Promise<unknown> {
  const url = `${api.url}${path}`;
  const res = await httpJson({
    method,
    url,
    headers: { authorization: api.authorization },
    ...(options.json === undefined ? {} : { json: options.json }),
    insecure: api.insecure,
    system: 'the pcap API',
  });
  if (res.status === (options.expect ?? 200)) return res.body;
  throw apiCallError(res.status, res.body, url, options.feature);
}

/** The CliError for a refused pcap API call (feature switched off, or {@link apiErrorOf}'s mapping). */
export function apiCallError(status: number, body: unknown, url: string, feature: Feature): CliError {
  if (isUnknownRoute(status, body)) {
    return new CliError(
      ExitCode.NOT_ENABLED,
      `${feature.name} not enabled on this pcap API (${new URL(url).origin}); ask its operator`,
    );
  }
  return apiErrorOf(status, body, url);
}

/** Reads `body[key]` as an array of objects (an answer we cannot read is exit 1). */
export function listOf(body: unknown, key: string): Array<Record<string, unknown>> {
  const list = (
    typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[key] : undefined
  ) as unknown[] | undefined;
  if (!Array.isArray(list) || list.some((x) => typeof x !== 'object' || x === null)) {
    throw new CliError(ExitCode.FAILED, `the pcap API answered without a '${key}' list`);
  }
  return list as Array<Record<string, unknown>>;
}

/** Left-aligned columns separated by two spaces; `-` for empty cells. */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const cells = [header, ...rows].map((r) => r.map((c) => (c === '' ? '-' : c)));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .map((l) => `${l}\n`)
    .join('');
}

/** A value of an API answer as table text. */
export function text(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}
