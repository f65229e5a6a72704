import type { RunRecord, RunResult, ScheduleQuota, ScheduleRecord, ScheduleState } from './schedule.model';

/** Injection token of the one {@link ScheduleStore} (SQLite or PostgreSQL, chosen by `schedules.store.kind`). */
export const SCHEDULE_STORE = Symbol('pcap:SCHEDULE_STORE');

/** Claiming the due occurrence of a schedule: advance `next_run` and record its runs, all or nothing. */
export interface OccurrenceClaim {
  readonly scheduleId: string;
  /** `next_run` as the claimer read it; the claim fails if anybody advanced it meanwhile (compare-and-set). */
  readonly expectedNextMs: number;
  /** The new `next_run`; null = no further occurrence (the schedule becomes `completed`). */
  readonly nextRunMs: number | null;
  /** Runs to insert (missed occurrences and the one being started or skipped); `(schedule, occurrence)` is unique. */
  readonly runs: readonly RunRecord[];
  readonly nowMs: number;
  /** Older final runs beyond this many per schedule are deleted. */
  readonly runsKept: number;
}

/** What a schedule's state may change to (pause, resume, pause by a run). */
export interface ScheduleStateChange {
  readonly state: ScheduleState;
  readonly pausedReason: string | null;
  readonly nextRunMs: number | null;
  readonly nowMs: number;
}

/** A run whose lease ran out, as {@link ScheduleStore.expireLeases} marked it failed. */
export interface ExpiredRun {
  readonly run: RunRecord;
  readonly schedule: Pick<ScheduleRecord, 'id' | 'appGuid' | 'appName' | 'createdBy' | 'createdByName'>;
}

/**
 * Where schedules and their runs persist, shared by every API instance that uses the same database. Every
 * operation that decides who runs what is atomic in the database (never in memory): an occurrence is claimed by a
 * compare-and-set of the schedule's `next_run` in one transaction with the insert of its run, and a run is owned by
 * the instance named in it only while its lease lasts. All methods reject only for database failures.
 */
export interface ScheduleStore {
  /** Creates the tables if missing. */
  init(): Promise<void>;
  close(): Promise<void>;

  /** Inserts unless the app or the creator already has `quota` schedules: then says which limit. */
  createSchedule(schedule: ScheduleRecord, quota: ScheduleQuota): Promise<'created' | 'app' | 'user'>;
  getSchedule(id: string): Promise<ScheduleRecord | undefined>;
  /** Newest first; both filters optional (AND). */
  listSchedules(filter: { createdBy?: string; appGuid?: string }): Promise<ScheduleRecord[]>;
  /** False if the schedule is gone (or, with `onlyIf`, not in that state). */
  changeState(id: string, change: ScheduleStateChange, onlyIf?: ScheduleState): Promise<boolean>;
  /** Deletes the schedule and its runs; false if it did not exist. */
  deleteSchedule(id: string): Promise<boolean>;

  /** Active schedules whose `next_run` is at or before `nowMs`, oldest first. */
  dueSchedules(nowMs: number, limit: number): Promise<ScheduleRecord[]>;
  /** True if this instance won the occurrence (and its runs were recorded). */
  claim(claim: OccurrenceClaim): Promise<boolean>;
  /** Whether a run of the schedule is `running`. */
  hasRunning(scheduleId: string): Promise<boolean>;
  /** Extends the lease of a running run owned by `owner`; false if the run is no longer ours or no longer running. */
  renewLease(runId: string, owner: string, untilMs: number): Promise<boolean>;
  /** Records the result of a running run owned by `owner`; false if it is no longer ours (lease expired). */
  finishRun(runId: string, owner: string, result: RunResult): Promise<boolean>;
  /** Marks every running run whose lease ended before `nowMs` failed with `error`; returns them. */
  expireLeases(nowMs: number, error: string): Promise<ExpiredRun[]>;
  /** Newest first. */
  listRuns(scheduleId: string, limit: number): Promise<RunRecord[]>;
}
