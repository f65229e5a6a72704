import { CronExpressionParser } from 'cron-parser';

import type { ScheduleTiming } from './schedule.model';

/** How many upcoming occurrences are checked against the minimum interval and the duration. */
const LOOKAHEAD = 50;

/**
 * The occurrence after `afterMs` (strictly later), or null when there is none (a one-off that is past `afterMs`).
 * Cron expressions have 5 fields (minute precision) or 6 (seconds first) and are evaluated in the schedule's zone.
 */
export function nextOccurrence(timing: ScheduleTiming, afterMs: number): number | null {
  if (timing.kind === 'once') return timing.atMs > afterMs ? timing.atMs : null;
  const expr = CronExpressionParser.parse(timing.cron, {
    currentDate: new Date(afterMs),
    tz: timing.timezone,
  });
  if (!expr.hasNext()) return null;
  const next = expr.next().getTime();
  return next > afterMs ? next : null;
}

/** Problems of a cron expression for a schedule, each a sentence a person can act on; empty when fine. */
export function cronProblems(
  cron: string,
  timezone: string,
  nowMs: number,
  minIntervalSeconds: number,
  durationSeconds: number,
): string[] {
  const fields = cron.trim().split(/\s+/);
  if (cron.startsWith('@')) return [`cron: '${cron}': use 5 or 6 fields, not a shorthand`];
  if (fields.length < 5 || fields.length > 6) {
    return [
      `cron: '${cron}' has ${fields.length} fields; give 5 (minute hour day month weekday) or 6 (second first)`,
    ];
  }
  let times: number[];
  try {
    const expr = CronExpressionParser.parse(cron, {
      currentDate: new Date(nowMs),
      tz: timezone,
      strict: false,
    });
    times = expr.take(LOOKAHEAD).map((d) => d.getTime());
  } catch (err) {
    return [`cron: '${cron}' is not a valid cron expression: ${(err as Error).message}`];
  }
  if (times.length === 0) return [`cron: '${cron}' never occurs`];
  let gap = Infinity;
  for (let i = 1; i < times.length; i++) gap = Math.min(gap, times[i]! - times[i - 1]!);
  const problems: string[] = [];
  if (Number.isFinite(gap)) {
    const gapSeconds = gap / 1000;
    if (gapSeconds < minIntervalSeconds) {
      problems.push(
        `cron: '${cron}' runs every ${gapSeconds}s; the limit schedules.min_interval_seconds is ${minIntervalSeconds}`,
      );
    } else if (gapSeconds <= durationSeconds) {
      problems.push(
        `duration_seconds ${durationSeconds} is not shorter than the ${gapSeconds}s between runs of cron '${cron}'`,
      );
    }
  }
  return problems;
}

/** Whether `zone` is an IANA time zone this Node knows. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
