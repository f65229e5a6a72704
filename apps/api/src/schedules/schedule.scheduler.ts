import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';

import { ApiConfig } from '../config/api-config';
import type { RunOutcome, RunRecord, ScheduleRecord } from './schedule.model';
import { SCHEDULE_STORE, type ScheduleStore } from './schedule.store';
import { ScheduleAuditLog } from './schedule-audit.log';
import { ScheduleRunExecutor } from './schedule-run.executor';
import { nextOccurrence } from './schedule-timing';

/** Missed occurrences recorded one by one per catch-up; beyond that, one run summarises the rest. */
const MISSED_RECORDED = 100;
const DUE_PER_TICK = 100;

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The clock of scheduled captures, on every API instance. Each tick (`schedules.tick_seconds`):
 *  1. runs whose lease expired (their instance died or lost the database) are marked failed;
 *  2. every due schedule is claimed in the database (compare-and-set of its next occurrence together with the insert
 *     of its runs), so exactly one instance wins each occurrence; occurrences older than
 *     `schedules.missed_after_seconds` are recorded as missed, one still running makes the next skipped;
 *  3. the winner executes the run ({@link ScheduleRunExecutor}) holding a lease it renews.
 * On shutdown the ticks stop and running runs (their captures drained by CaptureRegistry) are awaited.
 */
@Injectable()
export class ScheduleScheduler
  implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown
{
  private readonly logger = new Logger(ScheduleScheduler.name);
  /** This instance's name in leases: host, pid and a random part (a restarted process is a new owner). */
  readonly owner = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private stopped = false;
  private readonly running = new Set<Promise<void>>();

  constructor(
    @Inject(ApiConfig) private readonly config: ApiConfig,
    @Inject(SCHEDULE_STORE) private readonly store: ScheduleStore,
    private readonly executor: ScheduleRunExecutor,
    private readonly audit: ScheduleAuditLog,
  ) {}

  private get settings(): NonNullable<ApiConfig['schedules']> {
    const s = this.config.schedules;
    if (s === undefined) throw new Error('schedules are not configured');
    return s;
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.store.init();
    this.schedule();
    this.logger.log(`scheduler ${this.owner} started`);
  }

  /**
   * The next tick after `tick_seconds` ± 25 %: instances sharing a database do not query it in lockstep, and
   * each has its fair chance at every occurrence.
   */
  private schedule(): void {
    if (this.stopped) return;
    const delay = this.settings.tick_seconds * 1000 * (0.75 + Math.random() * 0.5);
    this.timer = setTimeout(() => {
      this.ticking = this.tick()
        .catch((err: unknown) => this.logger.error(`tick failed: ${messageOf(err)}`))
        .finally(() => {
          this.ticking = undefined;
          this.schedule();
        });
    }, delay);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.ticking;
    // CaptureRegistry stops the captures (gracefully, then aborted at the drain timeout); their runs then end.
    await Promise.all([...this.running]);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }

  /** Runs executing on this instance now. */
  get active(): number {
    return this.running.size;
  }

  /** One pass: expire leases, then claim and start what is due. */
  async tick(nowMs = Date.now()): Promise<void> {
    const expired = await this.store.expireLeases(
      nowMs,
      'the API instance running it stopped renewing its lease (it stopped or lost the database); the capture may be incomplete',
    );
    for (const { run, schedule } of expired) {
      this.logger.warn(
        `schedule ${schedule.id}: run ${run.id} of ${run.owner ?? '?'} expired: marked failed`,
      );
      this.audit.record({
        event: 'schedule.run.end',
        schedule_id: schedule.id,
        run_id: run.id,
        user: 'scheduler',
        user_id: schedule.createdBy,
        app: schedule.appName,
        app_guid: schedule.appGuid,
        occurrence: new Date(run.occurrenceMs).toISOString(),
        outcome: 'failed',
        error: run.error,
      });
    }
    for (const schedule of await this.store.dueSchedules(nowMs, DUE_PER_TICK)) {
      if (this.stopped) return;
      await this.claimDue(schedule, nowMs).catch((err: unknown) =>
        this.logger.error(`schedule ${schedule.id}: claim failed: ${messageOf(err)}`),
      );
    }
  }

  private async claimDue(schedule: ScheduleRecord, nowMs: number): Promise<void> {
    const expected = schedule.nextRunMs;
    if (expected === null) return;
    const { missed_after_seconds: graceSeconds, lease_seconds: leaseSeconds, runs_kept } = this.settings;
    const graceMs = graceSeconds * 1000;
    const runs: RunRecord[] = [];
    const record = (occurrenceMs: number, outcome: RunOutcome, error: string | null): RunRecord => ({
      id: randomUUID(),
      scheduleId: schedule.id,
      occurrenceMs,
      outcome,
      owner: outcome === 'running' ? this.owner : null,
      leaseUntilMs: outcome === 'running' ? nowMs + leaseSeconds * 1000 : null,
      startedMs: outcome === 'running' ? nowMs : null,
      endedMs: outcome === 'running' ? null : nowMs,
      objects: [],
      packets: null,
      bytes: null,
      drops: null,
      discarded: null,
      error,
    });
    let occurrence: number | null = expected;
    while (occurrence !== null && nowMs - occurrence > graceMs) {
      if (runs.length === MISSED_RECORDED - 1) {
        // Far behind (a long outage of a frequent schedule): one row stands for the rest.
        const from = occurrence;
        occurrence = nextOccurrence(schedule.timing, nowMs - graceMs);
        runs.push(
          record(
            from,
            'missed',
            `the API was not running: this and every occurrence until ${new Date(nowMs - graceMs).toISOString()} were missed`,
          ),
        );
        break;
      }
      runs.push(record(occurrence, 'missed', 'the API was not running at that time'));
      occurrence = nextOccurrence(schedule.timing, occurrence);
    }
    let current: RunRecord | undefined;
    let next = occurrence;
    if (occurrence !== null && occurrence <= nowMs) {
      next = nextOccurrence(schedule.timing, occurrence);
      if (await this.store.hasRunning(schedule.id)) {
        runs.push(record(occurrence, 'skipped', 'the previous run of this schedule was still running'));
      } else {
        current = record(occurrence, 'running', null);
        runs.push(current);
      }
    }
    const won = await this.store.claim({
      scheduleId: schedule.id,
      expectedNextMs: expected,
      nextRunMs: next,
      runs,
      nowMs,
      runsKept: runs_kept,
    });
    if (!won) return;
    for (const r of runs) {
      if (r === current) continue;
      this.logger.log(
        `schedule ${schedule.id}: occurrence ${new Date(r.occurrenceMs).toISOString()} ${r.outcome}`,
      );
      this.audit.record({
        event: 'schedule.run.end',
        schedule_id: schedule.id,
        run_id: r.id,
        user: 'scheduler',
        user_id: schedule.createdBy,
        app: schedule.appName,
        app_guid: schedule.appGuid,
        occurrence: new Date(r.occurrenceMs).toISOString(),
        outcome: r.outcome,
        error: r.error,
      });
    }
    if (current !== undefined) {
      const execution = this.executor.execute(schedule, current, this.owner);
      this.running.add(execution);
      void execution.finally(() => this.running.delete(execution));
    }
  }
}
