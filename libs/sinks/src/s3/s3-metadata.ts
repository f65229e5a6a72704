import type { CaptureRef } from '../sink.contract';

/** S3 allows 2 KB of user metadata per object: the filter is cut to this length (and marked as cut). */
const FILTER_MAX = 1024;
const INSTANCES_MAX = 512;

/**
 * User metadata (`x-amz-meta-*`) of a capture object, values URL-encoded (S3 metadata is ASCII). Written when the
 * object starts; `end`, `packets`, `bytes`, `kernel-drops` and `discarded` are added once the object is complete.
 */
export function startMetadata(capture: CaptureRef, part: number, startedAt: Date): Record<string, string> {
  const instances = capture.instances.join(',');
  const filterCut = capture.filter.length > FILTER_MAX;
  return {
    'capture-id': capture.id,
    org: encodeURIComponent(capture.org),
    space: encodeURIComponent(capture.space),
    app: encodeURIComponent(capture.app),
    'app-guid': capture.appGuid,
    instances: instances.length > INSTANCES_MAX ? `${instances.slice(0, INSTANCES_MAX)}...` : instances,
    filter: encodeURIComponent(capture.filter.slice(0, FILTER_MAX)),
    ...(filterCut ? { 'filter-truncated': 'true' } : {}),
    'requested-by': encodeURIComponent(capture.requestedBy),
    'capture-start': capture.startedAt.toISOString(),
    part: String(part),
    start: startedAt.toISOString(),
  };
}

export interface ObjectTotals {
  readonly endedAt: Date;
  readonly packets: number;
  readonly bytes: number;
  readonly kernelDrops: bigint;
  readonly discarded: bigint;
}

export function endMetadata(totals: ObjectTotals): Record<string, string> {
  return {
    end: totals.endedAt.toISOString(),
    packets: String(totals.packets),
    bytes: String(totals.bytes),
    'kernel-drops': String(totals.kernelDrops),
    discarded: String(totals.discarded),
    complete: 'true',
  };
}

/** Decodes metadata values written by {@link startMetadata} (S3 returns keys lower-cased, without the prefix). */
export function decodeMetadata(raw: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw ?? {})) {
    try {
      out[k] = decodeURIComponent(v);
    } catch {
      out[k] = v;
    }
  }
  return out;
}
