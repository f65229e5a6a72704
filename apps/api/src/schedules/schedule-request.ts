import { z } from 'zod';

import type { ApiConfig } from '../config/api-config';
import { parseCaptureBody, type CaptureRequest } from '../captures/capture-request';
import { BadCaptureRequestError, RequestOverLimitError } from '../http/api.errors';
import type { ScheduleTiming } from './schedule.model';
import { cronProblems, isTimeZone } from './schedule-timing';

/** Keys of `POST /schedules` besides those of a `POST /captures` body. */
const scheduleKeys = z.object({
  sink: z.string().min(1, 'must name a configured sink').max(255).optional(),
  at: z.string().min(1).max(64).optional(),
  cron: z.string().min(1).max(255).optional(),
  timezone: z.string().min(1).max(64).optional(),
});
const SCHEDULE_KEYS = new Set(Object.keys(scheduleKeys.shape));

/** A validated `POST /schedules` body. */
export interface ScheduleRequest {
  readonly timing: ScheduleTiming;
  readonly sink: string;
  /** The capture part, with the schedule defaults filled in (duration, bytes); the app still as the user named it. */
  readonly captureBody: Readonly<Record<string, unknown>>;
  /** The capture part as validated now (filter compiled, within `limits.*`). */
  readonly capture: CaptureRequest;
}

export interface ScheduleRequestContext {
  readonly config: ApiConfig;
  readonly excluded: readonly string[];
  /** Names of the sinks a schedule may store to. */
  readonly sinks: readonly string[];
  readonly nowMs: number;
}

/**
 * Parses `POST /schedules`: the `POST /captures` body (same keys, same checks: filter compiled by libpcap,
 * `limits.*`) plus `sink` and either `at` (ISO 8601 with a zone, in the future) or `cron` (5 or 6 fields, optional
 * `timezone`, default UTC). `duration_seconds` is required; it and `max_bytes` must stay within `schedules.*`.
 * Throws BadCaptureRequestError (every problem listed), RequestOverLimitError (naming the limit) or
 * InvalidFilterError (libpcap's message).
 */
export function parseScheduleBody(raw: unknown, ctx: ScheduleRequestContext): ScheduleRequest {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new BadCaptureRequestError('body: must be a JSON object');
  }
  const all = raw as Record<string, unknown>;
  const parsed = scheduleKeys.safeParse(
    Object.fromEntries(Object.entries(all).filter(([k]) => SCHEDULE_KEYS.has(k))),
  );
  if (!parsed.success) {
    throw new BadCaptureRequestError(
      parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
    );
  }
  const s = parsed.data;
  const limits = ctx.config.schedules;
  if (limits === undefined) throw new Error('schedules are not configured');
  const problems: string[] = [];
  const overLimit: string[] = [];

  const captureBody: Record<string, unknown> = Object.fromEntries(
    Object.entries(all).filter(([k]) => !SCHEDULE_KEYS.has(k)),
  );
  if (captureBody.format !== undefined && captureBody.format !== 'pcapng') {
    problems.push('format: scheduled captures are stored as pcapng');
  }
  const duration = captureBody.duration_seconds;
  if (duration === undefined) {
    problems.push('duration_seconds: required for a schedule');
  } else if (typeof duration === 'number' && duration > limits.max_duration_seconds) {
    overLimit.push(
      `duration_seconds ${duration} exceeds the limit schedules.max_duration_seconds = ${limits.max_duration_seconds}`,
    );
  }
  // The default stays within both limits (a live capture's `limits.max_bytes` may be the lower one).
  const liveMax = ctx.config.limits.max_bytes;
  captureBody.max_bytes ??= liveMax === undefined ? limits.max_bytes : Math.min(liveMax, limits.max_bytes);
  if (typeof captureBody.max_bytes === 'number' && captureBody.max_bytes > limits.max_bytes) {
    overLimit.push(
      `max_bytes ${captureBody.max_bytes} exceeds the limit schedules.max_bytes = ${limits.max_bytes}`,
    );
  }

  if (s.sink === undefined) {
    problems.push('sink: required: the name of a configured S3 sink');
  } else if (!ctx.sinks.includes(s.sink)) {
    problems.push(
      ctx.sinks.length === 0
        ? `sink: '${s.sink}' is not configured (this API has no sinks for schedules)`
        : `sink: '${s.sink}' is not configured; configured sinks: ${ctx.sinks.join(', ')}`,
    );
  }

  let timing: ScheduleTiming | undefined;
  if ((s.at === undefined) === (s.cron === undefined)) {
    problems.push('give either at (a one-off time) or cron (a recurring schedule), not both or neither');
  } else if (s.at !== undefined) {
    if (s.timezone !== undefined) problems.push('timezone: only with cron (give at with its offset)');
    const atMs = /(Z|[+-]\d{2}:?\d{2})$/.test(s.at) ? Date.parse(s.at) : NaN;
    if (Number.isNaN(atMs)) {
      problems.push(`at: '${s.at}' is not an ISO 8601 time with a zone, like 2030-01-31T22:00:00Z`);
    } else if (atMs <= ctx.nowMs) {
      problems.push(`at: ${new Date(atMs).toISOString()} is in the past`);
    } else {
      timing = { kind: 'once', atMs };
    }
  } else if (s.cron !== undefined) {
    const timezone = s.timezone ?? 'UTC';
    if (!isTimeZone(timezone)) {
      problems.push(`timezone: '${timezone}' is not a known time zone (IANA names like Europe/Berlin)`);
    } else {
      const cronIssues = cronProblems(
        s.cron,
        timezone,
        ctx.nowMs,
        limits.min_interval_seconds,
        typeof duration === 'number' ? duration : 0,
      );
      // An interval shorter than the operator allows is a limit; the rest are mistakes.
      for (const p of cronIssues)
        (p.includes('schedules.min_interval_seconds') ? overLimit : problems).push(p);
      if (cronIssues.length === 0) timing = { kind: 'cron', cron: s.cron.trim(), timezone };
    }
  }

  if (problems.length > 0) throw new BadCaptureRequestError(problems.join('; '));
  if (overLimit.length > 0) throw new RequestOverLimitError(overLimit.join('; '));
  // The capture part gets every check of POST /captures (unknown keys, limits.*, the filter compiled).
  const capture = parseCaptureBody(captureBody, ctx.config, ctx.excluded);
  if (timing === undefined || s.sink === undefined) throw new Error('unreachable: validated above');
  return { timing, sink: s.sink, captureBody, capture };
}
