import { compileFilter, deviceNameProblem, filterTextProblem, SNAPLEN_MIN } from '@pcap/capture';
import { z } from 'zod';

import type { ApiConfig } from '../config/api-config';
import { BadCaptureRequestError, RequestOverLimitError } from '../http/api.errors';
import type { CaptureFormat } from '@pcap/sinks';

const GUID = /^[0-9a-fA-F-]{8,64}$/;
const PROCESS_TYPE = /^[A-Za-z0-9_.-]{1,64}$/;

/** The capture options of every capture request body (apps and BOSH VMs), before defaults and limits. */
export const captureOptionFields = {
  device: z.string().optional(),
  filter: z.string().optional(),
  snaplen: z.number().int().optional(),
  duration_seconds: z.number().int().positive().optional(),
  max_packets: z.number().int().positive().optional(),
  max_bytes: z.number().int().positive().optional(),
  format: z.enum(['pcapng', 'pcap']).optional(),
};

/** `POST /captures` JSON body. Unknown keys are refused so a typo never silently captures something else. */
const bodySchema = z.strictObject({
  app_guid: z.string().regex(GUID, 'must be a GUID').optional(),
  app_name: z.string().min(1).max(255).optional(),
  space_guid: z.string().regex(GUID, 'must be a GUID').optional(),
  process_type: z.string().regex(PROCESS_TYPE, 'must be a process type like web or worker').optional(),
  instances: z
    .union([z.literal('all'), z.array(z.number().int().min(0).max(100_000)).min(1).max(10_000)])
    .optional(),
  ...captureOptionFields,
  /** A configured storage sink (by name) that also receives the capture. */
  sink: z.string().min(1).max(63).optional(),
});

/** Which app: by guid, or by name within a space. */
export type AppSelector =
  | { readonly kind: 'guid'; readonly appGuid: string }
  | { readonly kind: 'name'; readonly appName: string; readonly spaceGuid: string };

/** Validated options of any capture: every value within the operator's limits, the filter compiled. */
export interface CaptureOptions {
  readonly device: string;
  /** The user's filter ('' = everything). */
  readonly filter: string;
  /** What the agents get: the user's filter with the API's own addresses excluded. */
  readonly agentFilter: string;
  readonly snaplen: number;
  readonly durationSeconds: number;
  readonly maxPackets: number | undefined;
  readonly maxBytes: number | undefined;
  readonly format: CaptureFormat;
  /** Name of a configured storage sink that also receives the capture (pcapng only). */
  readonly sink: string | undefined;
}

/** A validated Cloud Foundry capture request. */
export interface CaptureRequest extends CaptureOptions {
  readonly app: AppSelector;
  readonly processType: string;
  /** `undefined` = all instances. */
  readonly indexes: readonly number[] | undefined;
}

/** Options as given, before defaults and limits. */
export interface UncheckedCaptureOptions {
  readonly device: string | undefined;
  readonly filter: string | undefined;
  readonly snaplen: number | undefined;
  readonly durationSeconds: number | undefined;
  readonly maxPackets: number | undefined;
  readonly maxBytes: number | undefined;
  readonly format: CaptureFormat;
  readonly sink: string | undefined;
}

export function issues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
}

/** Parses the JSON body of `POST /captures`; throws BadCaptureRequestError, RequestOverLimitError or InvalidFilterError. */
export function parseCaptureBody(
  raw: unknown,
  config: ApiConfig,
  excluded: readonly string[],
): CaptureRequest {
  const parsed = bodySchema.safeParse(raw ?? {});
  if (!parsed.success) throw new BadCaptureRequestError(issues(parsed.error));
  const b = parsed.data;
  let app: AppSelector;
  if (b.app_guid !== undefined) {
    if (b.app_name !== undefined || b.space_guid !== undefined) {
      throw new BadCaptureRequestError('give either app_guid, or app_name with space_guid, not both');
    }
    app = { kind: 'guid', appGuid: b.app_guid };
  } else if (b.app_name !== undefined && b.space_guid !== undefined) {
    app = { kind: 'name', appName: b.app_name, spaceGuid: b.space_guid };
  } else {
    throw new BadCaptureRequestError('name the app: app_guid, or app_name with space_guid');
  }
  return validate(
    {
      app,
      processType: b.process_type ?? 'web',
      indexes: b.instances === undefined || b.instances === 'all' ? undefined : b.instances,
      device: b.device,
      filter: b.filter,
      snaplen: b.snaplen,
      durationSeconds: b.duration_seconds,
      maxPackets: b.max_packets,
      maxBytes: b.max_bytes,
      format: b.format ?? 'pcapng',
      sink: b.sink,
    },
    config,
    excluded,
  );
}

const querySchema = z.strictObject({
  appid: z.string().regex(GUID, 'must be a GUID'),
  index: z.union([z.string(), z.array(z.string())]).optional(),
  type: z.string().regex(PROCESS_TYPE, 'must be a process type like web or worker').optional(),
  device: z.string().optional(),
  filter: z.string().optional(),
});

/** The seed's `GET /capture?appid=&index=&index=&type=&device=&filter=` (classic pcap, all instances by default). */
export function parseSeedQuery(raw: unknown, config: ApiConfig, excluded: readonly string[]): CaptureRequest {
  const parsed = querySchema.safeParse(raw ?? {});
  if (!parsed.success) throw new BadCaptureRequestError(issues(parsed.error));
  const q = parsed.data;
  const rawIndexes = q.index === undefined ? [] : Array.isArray(q.index) ? q.index : [q.index];
  const split = rawIndexes.flatMap((i) => i.split(',')).filter((i) => i !== '' && i !== 'all');
  const bad = split.filter((i) => !/^\d{1,6}$/.test(i));
  if (bad.length > 0)
    throw new BadCaptureRequestError(`index: '${bad.join("', '")}' is not an instance index`);
  return validate(
    {
      app: { kind: 'guid', appGuid: q.appid },
      processType: q.type ?? 'web',
      indexes: split.length === 0 ? undefined : split.map(Number),
      device: q.device,
      filter: q.filter,
      snaplen: undefined,
      durationSeconds: undefined,
      maxPackets: undefined,
      maxBytes: undefined,
      format: 'pcap',
      sink: undefined,
    },
    config,
    excluded,
  );
}

interface Unchecked extends UncheckedCaptureOptions {
  readonly app: AppSelector;
  readonly processType: string;
  readonly indexes: readonly number[] | undefined;
}

function validate(r: Unchecked, config: ApiConfig, excluded: readonly string[]): CaptureRequest {
  return {
    app: r.app,
    processType: r.processType,
    indexes: r.indexes,
    ...validateCaptureOptions(r, config, excluded, r.indexes?.length),
  };
}

/**
 * Applies defaults and the operator's limits to `r` (and to `requestedInstances`, when instances are named) and
 * compiles the filter, also with the API's own addresses excluded. Throws BadCaptureRequestError listing every
 * problem, RequestOverLimitError naming each limit, or InvalidFilterError with libpcap's text.
 */
export function validateCaptureOptions(
  r: UncheckedCaptureOptions,
  config: ApiConfig,
  excluded: readonly string[],
  requestedInstances: number | undefined,
): CaptureOptions {
  const limits = config.limits;
  const problems: string[] = [];
  const overLimit: string[] = [];
  const device = r.device ?? 'eth0';
  const deviceProblem = deviceNameProblem(device);
  if (deviceProblem) problems.push(deviceProblem);
  const filter = r.filter ?? '';
  const filterProblem = filterTextProblem(filter);
  if (filterProblem) problems.push(filterProblem);
  const snaplen = r.snaplen ?? limits.snaplen_max;
  if (snaplen < SNAPLEN_MIN) problems.push(`snaplen must be at least ${SNAPLEN_MIN}, got ${snaplen}`);
  if (snaplen > limits.snaplen_max) {
    overLimit.push(`snaplen ${snaplen} exceeds the limit limits.snaplen_max = ${limits.snaplen_max}`);
  }
  const durationSeconds = r.durationSeconds ?? limits.max_duration_seconds;
  if (durationSeconds > limits.max_duration_seconds) {
    overLimit.push(
      `duration_seconds ${durationSeconds} exceeds the limit limits.max_duration_seconds = ${limits.max_duration_seconds}`,
    );
  }
  const maxPackets = r.maxPackets ?? limits.max_packets;
  if (limits.max_packets !== undefined && maxPackets !== undefined && maxPackets > limits.max_packets) {
    overLimit.push(`max_packets ${maxPackets} exceeds the limit limits.max_packets = ${limits.max_packets}`);
  }
  const maxBytes = r.maxBytes ?? limits.max_bytes;
  if (limits.max_bytes !== undefined && maxBytes !== undefined && maxBytes > limits.max_bytes) {
    overLimit.push(`max_bytes ${maxBytes} exceeds the limit limits.max_bytes = ${limits.max_bytes}`);
  }
  if (requestedInstances !== undefined && requestedInstances > limits.instances_per_capture) {
    overLimit.push(
      `${requestedInstances} instances requested; the limit limits.instances_per_capture is ${limits.instances_per_capture}`,
    );
  }
  if (r.sink !== undefined && config.sink(r.sink) === undefined) {
    const known = config.sinks.map((s) => s.name);
    problems.push(
      `sink: no sink named '${r.sink}' is configured (configured: ${known.join(', ') || 'none'})`,
    );
  }
  if (problems.length > 0) throw new BadCaptureRequestError(problems.join('; '));
  if (overLimit.length > 0) throw new RequestOverLimitError(overLimit.join('; '));
  // libpcap's message is the user's answer; compiled before any agent is contacted.
  if (filter !== '') compileFilter(filter, { snaplen });
  const agentFilter = withExclusion(filter, excluded);
  if (agentFilter !== filter) {
    const problem = filterTextProblem(agentFilter);
    if (problem)
      throw new BadCaptureRequestError(
        `filter too long once the API's own addresses are excluded: ${problem}`,
      );
    compileFilter(agentFilter, { snaplen });
  }
  return {
    device,
    filter,
    agentFilter,
    snaplen,
    durationSeconds,
    maxPackets,
    maxBytes,
    format: r.format,
    sink: r.sink,
  };
}

/** `not (host a or host b) and (filter)`: a capture never sees the API's own traffic. */
export function withExclusion(filter: string, excluded: readonly string[]): string {
  if (excluded.length === 0) return filter;
  const hosts = excluded.map((a) => `host ${a}`).join(' or ');
  const exclusion = `not (${hosts})`;
  return filter === '' ? exclusion : `${exclusion} and (${filter})`;
}
