import { z } from 'zod';

import type { ApiConfig } from '../config/api-config';
import { BadCaptureRequestError } from '../http/api.errors';
import { type CaptureOptions, issues, validateCaptureOptions } from '../captures/capture-request';

/** BOSH names: deployments, instance groups (jobs) and instance ids. */
const BOSH_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/** `POST /bosh/captures` JSON body. Unknown keys are refused. */
const bodySchema = z.strictObject({
  deployment: z.string().regex(BOSH_NAME, 'must be a BOSH deployment name'),
  groups: z.array(z.string().regex(BOSH_NAME, 'must be an instance group name')).min(1).max(100),
  /** Instance ids (UUIDs) within the groups; absent = every instance of the groups. */
  instances: z.array(z.string().regex(BOSH_NAME, 'must be a BOSH instance id')).min(1).max(10_000).optional(),
  device: z.string().optional(),
  filter: z.string().optional(),
  snaplen: z.number().int().optional(),
  duration_seconds: z.number().int().positive().optional(),
  max_packets: z.number().int().positive().optional(),
  max_bytes: z.number().int().positive().optional(),
  format: z.enum(['pcapng', 'pcap']).optional(),
});

/** A validated BOSH capture request. */
export interface BoshCaptureRequest extends CaptureOptions {
  readonly deployment: string;
  readonly groups: readonly string[];
  readonly ids: readonly string[] | undefined;
}

/** Parses `POST /bosh/captures`; throws BadCaptureRequestError, RequestOverLimitError or InvalidFilterError. */
export function parseBoshCaptureBody(
  raw: unknown,
  config: ApiConfig,
  excluded: readonly string[],
): BoshCaptureRequest {
  const parsed = bodySchema.safeParse(raw ?? {});
  if (!parsed.success) throw new BadCaptureRequestError(issues(parsed.error));
  const b = parsed.data;
  return {
    deployment: b.deployment,
    groups: [...new Set(b.groups)],
    ids: b.instances === undefined ? undefined : [...new Set(b.instances)],
    ...validateCaptureOptions(
      {
        device: b.device,
        filter: b.filter,
        snaplen: b.snaplen,
        durationSeconds: b.duration_seconds,
        maxPackets: b.max_packets,
        maxBytes: b.max_bytes,
        format: b.format ?? 'pcapng',
      },
      config,
      excluded,
      b.instances?.length,
    ),
  };
}
