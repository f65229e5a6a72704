import {
  SNAPLEN_MIN,
  InvalidCaptureOptionError,
  compileFilter,
  deviceNameProblem,
  filterTextProblem,
} from '@pcap/capture';
import { z } from 'zod';

import type { AgentConfig } from '../config/agent-config';
import type { CaptureTarget } from '../target/capture-target';

const GUID = /^[0-9a-fA-F-]{8,64}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** The JSON body of `POST /captures`, as the API sends it. Unknown keys are refused. */
const bodySchema = z.strictObject({
  target: z.strictObject({
    app_guid: z.string().optional(),
    instance_guid: z.string().optional(),
    instance_ip: z.string().optional(),
    host: z.boolean().optional(),
  }),
  device: z.string().optional(),
  filter: z.string().optional(),
  snaplen: z.number().optional(),
  buffer_size: z.number().optional(),
  duration_seconds: z.number().optional(),
  max_packets: z.number().optional(),
  max_bytes: z.number().optional(),
  /** Labels describing the target (org, space, app, process, index, ...) for the IDB's if_description. */
  origin: z
    .record(z.string().max(64), z.string().max(256))
    .refine((labels) => Object.keys(labels).length <= 16, { message: 'at most 16 origin labels' })
    .optional(),
});

/** A validated capture request; every value within the agent's limits. */
export interface CaptureRequest {
  readonly target: CaptureTarget;
  readonly device: string;
  /** The user's filter (without the agent's own exclusion); '' = everything. */
  readonly filter: string;
  readonly snaplen: number;
  readonly bufferSize: number;
  readonly durationSeconds: number | undefined;
  readonly maxPackets: number | undefined;
  readonly maxBytes: number | undefined;
  readonly origin: Readonly<Record<string, string>>;
}

function positiveInt(name: string, value: number | undefined, max: number, problems: string[]): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    problems.push(`${name} must be an integer from 1 to ${max}, got ${value}`);
  }
}

/**
 * Validates a request body against the rules and the agent's limits, before anything is opened. Throws
 * InvalidCaptureOptionError listing every problem (each with its own message), or InvalidFilterError with
 * libpcap's text when only the filter does not compile.
 */
export function parseCaptureRequest(raw: unknown, config: AgentConfig): CaptureRequest {
  const parsed = bodySchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new InvalidCaptureOptionError(
      parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '),
    );
  }
  const body = parsed.data;
  const problems: string[] = [];

  let target: CaptureTarget | undefined;
  const t = body.target;
  if (t.host === true) {
    if (t.app_guid !== undefined || t.instance_guid !== undefined || t.instance_ip !== undefined) {
      problems.push(
        'target must be either an app instance (app_guid with instance_guid or instance_ip) or host',
      );
    } else {
      target = { kind: 'host' };
    }
  } else if (t.app_guid === undefined) {
    problems.push('target.app_guid is required (or target.host: true for a device of this VM)');
  } else if (!GUID.test(t.app_guid)) {
    problems.push(`target.app_guid '${t.app_guid}' is not a GUID`);
  } else if (t.instance_guid === undefined && t.instance_ip === undefined) {
    problems.push('target needs instance_guid or instance_ip');
  } else {
    if (t.instance_guid !== undefined && !GUID.test(t.instance_guid)) {
      problems.push(`target.instance_guid '${t.instance_guid}' is not a container handle`);
    }
    if (t.instance_ip !== undefined && !IPV4.test(t.instance_ip)) {
      problems.push(`target.instance_ip '${t.instance_ip}' is not an IPv4 address`);
    }
    target = {
      kind: 'instance',
      appGuid: t.app_guid,
      instanceGuid: t.instance_guid,
      instanceIp: t.instance_ip,
    };
  }

  const device = body.device ?? config.capture.default_device;
  const deviceProblem = deviceNameProblem(device);
  if (deviceProblem) problems.push(deviceProblem);

  const filter = body.filter ?? '';
  const filterProblem = filterTextProblem(filter);
  if (filterProblem) problems.push(filterProblem);

  const snaplen = body.snaplen ?? config.capture.snaplen_default;
  const snaplenMax = config.capture.snaplen_max;
  if (!Number.isInteger(snaplen) || snaplen < SNAPLEN_MIN || snaplen > snaplenMax) {
    problems.push(`snaplen must be an integer from ${SNAPLEN_MIN} to ${snaplenMax}, got ${snaplen}`);
  }
  const bufferSize = body.buffer_size ?? config.capture.buffer_size;
  const bufferMax = config.capture.buffer_size_max;
  if (!Number.isInteger(bufferSize) || bufferSize < 0 || bufferSize > bufferMax) {
    problems.push(`buffer_size must be an integer from 0 to ${bufferMax} bytes, got ${bufferSize}`);
  }
  const maxDuration = config.capture.max_duration_seconds;
  positiveInt('duration_seconds', body.duration_seconds, maxDuration ?? 7 * 24 * 3600, problems);
  positiveInt('max_packets', body.max_packets, Number.MAX_SAFE_INTEGER, problems);
  positiveInt('max_bytes', body.max_bytes, Number.MAX_SAFE_INTEGER, problems);

  if (problems.length > 0 || target === undefined) throw new InvalidCaptureOptionError(problems.join('; '));
  // Compiled only once the text is acceptable, so libpcap's message is the only one.
  if (filter !== '') compileFilter(filter, { snaplen });
  return {
    target,
    device,
    filter,
    snaplen,
    bufferSize,
    durationSeconds: body.duration_seconds ?? maxDuration,
    maxPackets: body.max_packets,
    maxBytes: body.max_bytes,
    origin: body.origin ?? {},
  };
}

/**
 * The agent's own connection to the API as a BPF exclusion, prepended to the user's filter: in the host's namespace
 * the capture would otherwise see (and feed back) its own stream.
 */
export function withExclusion(
  filter: string,
  peer: { address: string; localPort: number } | undefined,
): string {
  if (!peer) return filter;
  const address = peer.address.replace(/^::ffff:/, '');
  const exclusion = `not (host ${address} and tcp port ${peer.localPort})`;
  return filter === '' ? exclusion : `${exclusion} and (${filter})`;
}
