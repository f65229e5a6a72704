import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import Database from 'better-sqlite3';

import type { RunRecord, RunResult, ScheduleQuota, ScheduleRecord, ScheduleState } from './schedule.model';
import {
  rowToRun,
  rowToSchedule,
  RUN_COLUMNS,
  runToRow,
  SCHEDULE_COLUMNS,
  SCHEDULE_TABLES_DDL,
  scheduleToRow,
  type RunRow,
  type ScheduleRow,
} from './schedule-rows';
import type { ExpiredRun, OccurrenceClaim, ScheduleStateChange, ScheduleStore } from './schedule.store';

const insertSchedule = `INSERT INTO pcap_schedules (${SCHEDULE_COLUMNS.join(', ')}) VALUES (${SCHEDULE_COLUMNS.map((c) => `@${c}`).join(', ')})`;
const insertRun = `INSERT INTO pcap_schedule_runs (${RUN_COLUMNS.join(', ')}) VALUES (${RUN_COLUMNS.map((c) => `@${c}`).join(', ')})`;

/**
 * The embedded store: one SQLite file (`schedules.sqlite` in `schedules.store.data_dir`, WAL journal), for a single
 * API instance. better-sqlite3 is synchronous and every multi-statement operation runs in one transaction, so the
 * compare-and-set claim is atomic even against another process opening the same file.
 */
export class SqliteScheduleStore implements ScheduleStore {
  private readonly db: Database.Database;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.db = new Database(join(dataDir, 'schedules.sqlite'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
  }

  init(): Promise<void> {
    this.db.transaction(() => {
      for (const ddl of SCHEDULE_TABLES_DDL) this.db.exec(ddl);
    })();
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.db.open) this.db.close();
    return Promise.resolve();
  }

  createSchedule(schedule: ScheduleRecord, quota: ScheduleQuota): Promise<'created' | 'app' | 'user'> {
    const run = this.db.transaction((): 'created' | 'app' | 'user' => {
      const count = (sql: string, v: string): number => (this.db.prepare(sql).get(v) as { n: number }).n;
      if (
        count('SELECT COUNT(*) AS n FROM pcap_schedules WHERE app_guid = ?', schedule.appGuid) >= quota.perApp
      )
        return 'app';
      if (
        count('SELECT COUNT(*) AS n FROM pcap_schedules WHERE created_by = ?', schedule.createdBy) >=
        quota.perUser
      )
        return 'user';
      this.db.prepare(insertSchedule).run(scheduleToRow(schedule));
      return 'created';
    });
    return Promise.resolve(run.immediate());
  }

  getSchedule(id: string): Promise<ScheduleRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM pcap_schedules WHERE id = ?').get(id) as
      ScheduleRow | undefined;
    return Promise.resolve(row === undefined ? undefined : rowToSchedule(row));
  }

  listSchedules(filter: { createdBy?: string; appGuid?: string }): Promise<ScheduleRecord[]> {
    const where: string[] = [];
    const params: string[] = [];
    if (filter.createdBy !== undefined) {
      where.push('created_by = ?');
      params.push(filter.createdBy);
    }
    if (filter.appGuid !== undefined) {
      where.push('app_guid = ?');
      params.push(filter.appGuid);
    }
    const sql = `SELECT * FROM pcap_schedules ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_ms DESC, id`;
    const rows = this.db.prepare(sql).all(...params) as ScheduleRow[];
    return Promise.resolve(rows.map(rowToSchedule));
  }

  changeState(id: string, change: ScheduleStateChange, onlyIf?: ScheduleState): Promise<boolean> {
    const result = this.db
      .prepare(
        `UPDATE pcap_schedules SET state = @state, paused_reason = @reason, next_run_ms = @next, updated_ms = @now
         WHERE id = @id ${onlyIf === undefined ? '' : 'AND state = @onlyIf'}`,
      )
      .run({
        id,
        state: change.state,
        reason: change.pausedReason,
        next: change.nextRunMs,
        now: change.nowMs,
        ...(onlyIf === undefined ? {} : { onlyIf }),
      });
    return Promise.resolve(result.changes === 1);
  }

  deleteSchedule(id: string): Promise<boolean> {
    return Promise.resolve(this.db.prepare('DELETE FROM pcap_schedules WHERE id = ?').run(id).changes === 1);
  }

  dueSchedules(nowMs: number, limit: number): Promise<ScheduleRecord[]> {
    const rows = this.db
      .prepare(
        `SELECT * FROM pcap_schedules WHERE state = 'active' AND next_run_ms IS NOT NULL AND next_run_ms <= ?
         ORDER BY next_run_ms LIMIT ?`,
      )
      .all(nowMs, limit) as ScheduleRow[];
    return Promise.resolve(rows.map(rowToSchedule));
  }

  claim(c: OccurrenceClaim): Promise<boolean> {
    const run = this.db.transaction((): boolean => {
      const advanced = this.db
        .prepare(
          `UPDATE pcap_schedules SET next_run_ms = @next, updated_ms = @now,
             state = CASE WHEN @next IS NULL THEN 'completed' ELSE state END
           WHERE id = @id AND state = 'active' AND next_run_ms = @expected`,
        )
        .run({ id: c.scheduleId, next: c.nextRunMs, now: c.nowMs, expected: c.expectedNextMs });
      if (advanced.changes !== 1) return false;
      const insert = this.db.prepare(insertRun);
      for (const r of c.runs) insert.run(runToRow(r));
      this.prune(c.scheduleId, c.runsKept);
      return true;
    });
    return Promise.resolve(run.immediate());
  }

  hasRunning(scheduleId: string): Promise<boolean> {
    const row = this.db
      .prepare(`SELECT 1 AS x FROM pcap_schedule_runs WHERE schedule_id = ? AND outcome = 'running' LIMIT 1`)
      .get(scheduleId);
    return Promise.resolve(row !== undefined);
  }

  renewLease(runId: string, owner: string, untilMs: number): Promise<boolean> {
    const r = this.db
      .prepare(
        `UPDATE pcap_schedule_runs SET lease_until_ms = ? WHERE id = ? AND owner = ? AND outcome = 'running'`,
      )
      .run(untilMs, runId, owner);
    return Promise.resolve(r.changes === 1);
  }

  finishRun(runId: string, owner: string, result: RunResult): Promise<boolean> {
    const r = this.db
      .prepare(
        `UPDATE pcap_schedule_runs SET outcome = @outcome, ended_ms = @ended, objects = @objects, packets = @packets,
           bytes = @bytes, drops = @drops, discarded = @discarded, error = @error, lease_until_ms = NULL
         WHERE id = @id AND owner = @owner AND outcome = 'running'`,
      )
      .run({
        id: runId,
        owner,
        outcome: result.outcome,
        ended: result.endedMs,
        objects: JSON.stringify(result.objects),
        packets: result.packets,
        bytes: result.bytes,
        drops: result.drops,
        discarded: result.discarded,
        error: result.error,
      });
    return Promise.resolve(r.changes === 1);
  }

  expireLeases(nowMs: number, error: string): Promise<ExpiredRun[]> {
    const run = this.db.transaction((): ExpiredRun[] => {
      const rows = this.db
        .prepare(
          `SELECT r.*, s.app_guid AS s_app_guid, s.app_name AS s_app_name, s.created_by AS s_created_by,
             s.created_by_name AS s_created_by_name
           FROM pcap_schedule_runs r JOIN pcap_schedules s ON s.id = r.schedule_id
           WHERE r.outcome = 'running' AND r.lease_until_ms < ?`,
        )
        .all(nowMs) as Array<RunRow & Record<string, string>>;
      const update = this.db.prepare(
        `UPDATE pcap_schedule_runs SET outcome = 'failed', ended_ms = ?, error = ?, lease_until_ms = NULL
         WHERE id = ? AND outcome = 'running'`,
      );
      const out: ExpiredRun[] = [];
      for (const row of rows) {
        if (update.run(nowMs, error, row.id).changes !== 1) continue;
        const r = rowToRun(row);
        out.push({
          run: { ...r, outcome: 'failed', endedMs: nowMs, error, leaseUntilMs: null },
          schedule: {
            id: r.scheduleId,
            appGuid: row.s_app_guid ?? '',
            appName: row.s_app_name ?? '',
            createdBy: row.s_created_by ?? '',
            createdByName: row.s_created_by_name ?? '',
          },
        });
      }
      return out;
    });
    return Promise.resolve(run.immediate());
  }

  listRuns(scheduleId: string, limit: number): Promise<RunRecord[]> {
    const rows = this.db
      .prepare(
        'SELECT * FROM pcap_schedule_runs WHERE schedule_id = ? ORDER BY occurrence_ms DESC, id LIMIT ?',
      )
      .all(scheduleId, limit) as RunRow[];
    return Promise.resolve(rows.map(rowToRun));
  }

  private prune(scheduleId: string, keep: number): void {
    this.db
      .prepare(
        `DELETE FROM pcap_schedule_runs WHERE schedule_id = @id AND outcome <> 'running' AND id NOT IN (
           SELECT id FROM pcap_schedule_runs WHERE schedule_id = @id ORDER BY occurrence_ms DESC LIMIT @keep)`,
      )
      .run({ id: scheduleId, keep });
  }
}
