/** `active`: occurrences run; `paused`: by a user or because a run found the creator no longer allowed; `completed`: a one-off that ran. */
export type ScheduleState = 'active' | 'paused' | 'completed';

/** `running` holds a lease; the others are final. `missed`: the API was down at the time; `skipped`: not run, with the reason. */
export type RunOutcome = 'running' | 'succeeded' | 'failed' | 'skipped' | 'missed';

/** When a schedule runs: once at a time, or at every occurrence of a cron expression (5 or 6 fields) in a time zone. */
export type ScheduleTiming =
  | { readonly kind: 'once'; readonly atMs: number }
  | { readonly kind: 'cron'; readonly cron: string; readonly timezone: string };

/** The capture a schedule runs: the `POST /captures` body (app by guid), re-validated at every run. */
export type ScheduledCaptureBody = Readonly<Record<string, unknown>>;

/** A schedule as stored. Times are milliseconds since the epoch. */
export interface ScheduleRecord {
  readonly id: string;
  readonly appGuid: string;
  readonly appName: string;
  readonly spaceGuid: string;
  readonly spaceName: string;
  readonly orgName: string;
  /** UAA user id of the creator: the run re-checks that this user is still a space developer. */
  readonly createdBy: string;
  readonly createdByName: string;
  readonly timing: ScheduleTiming;
  /** Name of an operator-configured S3 sink. */
  readonly sink: string;
  readonly capture: ScheduledCaptureBody;
  readonly state: ScheduleState;
  readonly pausedReason: string | null;
  /** The next occurrence not yet claimed; null once a one-off has run. */
  readonly nextRunMs: number | null;
  readonly createdMs: number;
  readonly updatedMs: number;
}

/** One occurrence of a schedule and what became of it. */
export interface RunRecord {
  readonly id: string;
  readonly scheduleId: string;
  /** The occurrence this run is for; unique per schedule, which makes each occurrence run at most once. */
  readonly occurrenceMs: number;
  readonly outcome: RunOutcome;
  /** API instance holding (or last holding) the lease. */
  readonly owner: string | null;
  readonly leaseUntilMs: number | null;
  readonly startedMs: number | null;
  readonly endedMs: number | null;
  /** Keys of the objects written to the sink. */
  readonly objects: readonly string[];
  readonly packets: number | null;
  readonly bytes: number | null;
  /** Packets the kernel dropped (interface statistics of the agents). */
  readonly drops: number | null;
  /** Packets the API discarded because the sink was behind. */
  readonly discarded: number | null;
  readonly error: string | null;
}

/** What a finished run reports. */
export interface RunResult {
  readonly outcome: Exclude<RunOutcome, 'running' | 'missed'>;
  readonly endedMs: number;
  readonly objects: readonly string[];
  readonly packets: number | null;
  readonly bytes: number | null;
  readonly drops: number | null;
  readonly discarded: number | null;
  readonly error: string | null;
}

/** Per-app and per-user schedule quotas, checked atomically with the insert. */
export interface ScheduleQuota {
  readonly perApp: number;
  readonly perUser: number;
}
