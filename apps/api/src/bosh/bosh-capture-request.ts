import { z } from 'zod';

import type { ApiConfig } from '../config/api-config';
import { BadCaptureRequestError } from '../http/api.errors';
import {
  captureOptionFields,
  type CaptureOptions,
  issues,
  validateCaptureOptions,
} from '../captures/capture-request';

/** BOSH names: deployments, instance groups (jobs) and instance ids. */
const BOSH_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/** `POST /bosh/captures` JSON body. Unknown keys are refused. */
const bodySchema = z.strictObject({
  deployment: z.string().regex(BOSH_NAME, 'must be a BOSH deployment name'),
  groups: z.array(z.string().regex(BOSH_NAME, 'must be an instance group name')).min(1).max(100),
  /** Instance ids (UUIDs) within the groups; absent = every instance of the groups. */
  instances: z.array(z.string().regex(BOSH_NAME, 'must be a BOSH instance id')).min(1).max(10_000).optional(),
  ...captureOptionFields,
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
        // Storage sinks name objects by org/space/app and authorise downloads by app: app captures only.
        sink: undefined,
      },
      config,
      excluded,
      b.instances?.length,
    ),
  };
}
