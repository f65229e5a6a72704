import type {
  RunOutcome,
  RunRecord,
  ScheduleRecord,
  ScheduleState,
  ScheduledCaptureBody,
} from './schedule.model';

/**
 * The tables, shared by the SQLite and PostgreSQL stores (types that both accept; times are integer milliseconds).
 * `UNIQUE (schedule_id, occurrence_ms)` is what makes an occurrence impossible to record twice.
 */
export const SCHEDULE_TABLES_DDL = [
  `CREATE TABLE IF NOT EXISTS pcap_schedules (
    id TEXT PRIMARY KEY,
    app_guid TEXT NOT NULL,
    app_name TEXT NOT NULL,
    space_guid TEXT NOT NULL,
    space_name TEXT NOT NULL,
    org_name TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_by_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    cron TEXT,
    timezone TEXT,
    at_ms BIGINT,
    sink TEXT NOT NULL,
    capture TEXT NOT NULL,
    state TEXT NOT NULL,
    paused_reason TEXT,
    next_run_ms BIGINT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
  )`,
  `CREATE INDEX IF NOT EXISTS pcap_schedules_due ON pcap_schedules (state, next_run_ms)`,
  `CREATE INDEX IF NOT EXISTS pcap_schedules_app ON pcap_schedules (app_guid)`,
  `CREATE INDEX IF NOT EXISTS pcap_schedules_creator ON pcap_schedules (created_by)`,
  `CREATE TABLE IF NOT EXISTS pcap_schedule_runs (
    id TEXT PRIMARY KEY,
    schedule_id TEXT NOT NULL REFERENCES pcap_schedules (id) ON DELETE CASCADE,
    occurrence_ms BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    owner TEXT,
    lease_until_ms BIGINT,
    started_ms BIGINT,
    ended_ms BIGINT,
    objects TEXT NOT NULL,
    packets BIGINT,
    bytes BIGINT,
    drops BIGINT,
    discarded BIGINT,
    error TEXT,
    UNIQUE (schedule_id, occurrence_ms)
  )`,
  `CREATE INDEX IF NOT EXISTS pcap_schedule_runs_lease ON pcap_schedule_runs (outcome, lease_until_ms)`,
];

export const SCHEDULE_COLUMNS = [
  'id',
  'app_guid',
  'app_name',
  'space_guid',
  'space_name',
  'org_name',
  'created_by',
  'created_by_name',
  'kind',
  'cron',
  'timezone',
  'at_ms',
  'sink',
  'capture',
  'state',
  'paused_reason',
  'next_run_ms',
  'created_ms',
  'updated_ms',
] as const;

export const RUN_COLUMNS = [
  'id',
  'schedule_id',
  'occurrence_ms',
  'outcome',
  'owner',
  'lease_until_ms',
  'started_ms',
  'ended_ms',
  'objects',
  'packets',
  'bytes',
  'drops',
  'discarded',
  'error',
] as const;

type Cell = string | number | null;
export type ScheduleRow = Record<(typeof SCHEDULE_COLUMNS)[number], Cell>;
export type RunRow = Record<(typeof RUN_COLUMNS)[number], Cell>;

/** PostgreSQL hands BIGINT back as a string; SQLite as a number. */
function num(v: Cell | undefined): number | null {
  if (v === null || v === undefined) return null;
  return typeof v === 'number' ? v : Number(v);
}
function str(v: Cell | undefined): string | null {
  return v === null || v === undefined ? null : String(v);
}
function req(v: Cell | undefined): string {
  return String(v ?? '');
}

export function scheduleToRow(s: ScheduleRecord): ScheduleRow {
  return {
    id: s.id,
    app_guid: s.appGuid,
    app_name: s.appName,
    space_guid: s.spaceGuid,
    space_name: s.spaceName,
    org_name: s.orgName,
    created_by: s.createdBy,
    created_by_name: s.createdByName,
    kind: s.timing.kind,
    cron: s.timing.kind === 'cron' ? s.timing.cron : null,
    timezone: s.timing.kind === 'cron' ? s.timing.timezone : null,
    at_ms: s.timing.kind === 'once' ? s.timing.atMs : null,
    sink: s.sink,
    capture: JSON.stringify(s.capture),
    state: s.state,
    paused_reason: s.pausedReason,
    next_run_ms: s.nextRunMs,
    created_ms: s.createdMs,
    updated_ms: s.updatedMs,
  };
}

export function rowToSchedule(r: Partial<ScheduleRow>): ScheduleRecord {
  return {
    id: req(r.id),
    appGuid: req(r.app_guid),
    appName: req(r.app_name),
    spaceGuid: req(r.space_guid),
    spaceName: req(r.space_name),
    orgName: req(r.org_name),
    createdBy: req(r.created_by),
    createdByName: req(r.created_by_name),
    timing:
      r.kind === 'cron'
        ? { kind: 'cron', cron: req(r.cron), timezone: str(r.timezone) ?? 'UTC' }
        : { kind: 'once', atMs: num(r.at_ms) ?? 0 },
    sink: req(r.sink),
    capture: JSON.parse(req(r.capture)) as ScheduledCaptureBody,
    state: req(r.state) as ScheduleState,
    pausedReason: str(r.paused_reason),
    nextRunMs: num(r.next_run_ms),
    createdMs: num(r.created_ms) ?? 0,
    updatedMs: num(r.updated_ms) ?? 0,
  };
}

export function runToRow(r: RunRecord): RunRow {
  return {
    id: r.id,
    schedule_id: r.scheduleId,
    occurrence_ms: r.occurrenceMs,
    outcome: r.outcome,
    owner: r.owner,
    lease_until_ms: r.leaseUntilMs,
    started_ms: r.startedMs,
    ended_ms: r.endedMs,
    objects: JSON.stringify(r.objects),
    packets: r.packets,
    bytes: r.bytes,
    drops: r.drops,
    discarded: r.discarded,
    error: r.error,
  };
}

export function rowToRun(r: Partial<RunRow>): RunRecord {
  return {
    id: req(r.id),
    scheduleId: req(r.schedule_id),
    occurrenceMs: num(r.occurrence_ms) ?? 0,
    outcome: req(r.outcome) as RunOutcome,
    owner: str(r.owner),
    leaseUntilMs: num(r.lease_until_ms),
    startedMs: num(r.started_ms),
    endedMs: num(r.ended_ms),
    objects: JSON.parse(req(r.objects) || '[]') as string[],
    packets: num(r.packets),
    bytes: num(r.bytes),
    drops: num(r.drops),
    discarded: num(r.discarded),
    error: str(r.error),
  };
}
