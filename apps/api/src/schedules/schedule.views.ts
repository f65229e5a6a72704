import type { RunRecord, ScheduleRecord } from './schedule.model';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** A schedule as the API answers it. */
export function scheduleView(s: ScheduleRecord): Record<string, unknown> {
  return {
    id: s.id,
    app: { guid: s.appGuid, name: s.appName },
    space: { guid: s.spaceGuid, name: s.spaceName },
    org: { name: s.orgName },
    created_by: { user_id: s.createdBy, user_name: s.createdByName },
    ...(s.timing.kind === 'once'
      ? { at: iso(s.timing.atMs) }
      : { cron: s.timing.cron, timezone: s.timing.timezone }),
    sink: s.sink,
    capture: s.capture,
    state: s.state,
    paused_reason: s.pausedReason,
    next_run_at: iso(s.nextRunMs),
    created_at: iso(s.createdMs),
    updated_at: iso(s.updatedMs),
  };
}

/** A run as the API answers it. */
export function runView(r: RunRecord): Record<string, unknown> {
  return {
    id: r.id,
    occurrence_at: iso(r.occurrenceMs),
    outcome: r.outcome,
    instance: r.owner,
    started_at: iso(r.startedMs),
    ended_at: iso(r.endedMs),
    objects: r.objects,
    packets: r.packets,
    bytes: r.bytes,
    drops: r.drops,
    discarded: r.discarded,
    error: r.error,
  };
}
