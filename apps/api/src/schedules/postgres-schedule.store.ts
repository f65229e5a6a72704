import { readFileSync } from 'node:fs';

import { Pool, type PoolClient } from 'pg';

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

const placeholders = (n: number, from = 1): string =>
  Array.from({ length: n }, (_, i) => `$${i + from}`).join(', ');
const insertSchedule = `INSERT INTO pcap_schedules (${SCHEDULE_COLUMNS.join(', ')}) VALUES (${placeholders(SCHEDULE_COLUMNS.length)})`;
const insertRun = `INSERT INTO pcap_schedule_runs (${RUN_COLUMNS.join(', ')}) VALUES (${placeholders(RUN_COLUMNS.length)})`;
/** Serialises schedule creation (quota check + insert) across API instances; any constant works. */
const CREATE_LOCK = 0x70636170;
const UNIQUE_VIOLATION = '23505';

export interface PostgresStoreOptions {
  readonly url: string;
  /** PEM file of the CA for TLS to the server. */
  readonly ca?: string;
  readonly poolSize: number;
}

/**
 * The shared store for several API instances: one PostgreSQL database. An occurrence is claimed by
 * `UPDATE … WHERE next_run_ms = <as read>` (a row lock; a second instance re-checks the condition after the first
 * commits and updates nothing) in one transaction with the insert of its run under `UNIQUE (schedule_id,
 * occurrence_ms)`, so every occurrence is recorded and executed exactly once. Schedule creation takes a
 * transaction-level advisory lock so the per-app/per-user quotas hold across instances.
 */
export class PostgresScheduleStore implements ScheduleStore {
  private readonly pool: Pool;

  constructor(options: PostgresStoreOptions) {
    this.pool = new Pool({
      connectionString: options.url,
      max: options.poolSize,
      ...(options.ca === undefined ? {} : { ssl: { ca: readFileSync(options.ca, 'utf8') } }),
    });
    // An idle client losing its connection must not crash the process; the next query gets a fresh one.
    this.pool.on('error', () => undefined);
  }

  async init(): Promise<void> {
    await this.tx(async (c) => {
      // Two instances starting together must not race on CREATE TABLE IF NOT EXISTS.
      await c.query('SELECT pg_advisory_xact_lock($1)', [CREATE_LOCK + 1]);
      for (const ddl of SCHEDULE_TABLES_DDL) await c.query(ddl);
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  createSchedule(schedule: ScheduleRecord, quota: ScheduleQuota): Promise<'created' | 'app' | 'user'> {
    return this.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [CREATE_LOCK]);
      const count = async (column: string, v: string): Promise<number> => {
        const r = await c.query<{ n: string }>(
          `SELECT COUNT(*) AS n FROM pcap_schedules WHERE ${column} = $1`,
          [v],
        );
        return Number(r.rows[0]?.n ?? 0);
      };
      if ((await count('app_guid', schedule.appGuid)) >= quota.perApp) return 'app';
      if ((await count('created_by', schedule.createdBy)) >= quota.perUser) return 'user';
      const row = scheduleToRow(schedule);
      await c.query(
        insertSchedule,
        SCHEDULE_COLUMNS.map((k) => row[k]),
      );
      return 'created';
    });
  }

  async getSchedule(id: string): Promise<ScheduleRecord | undefined> {
    const r = await this.pool.query<ScheduleRow>('SELECT * FROM pcap_schedules WHERE id = $1', [id]);
    const row = r.rows[0];
    return row === undefined ? undefined : rowToSchedule(row);
  }

  async listSchedules(filter: { createdBy?: string; appGuid?: string }): Promise<ScheduleRecord[]> {
    const where: string[] = [];
    const params: string[] = [];
    if (filter.createdBy !== undefined) {
      params.push(filter.createdBy);
      where.push(`created_by = $${params.length}`);
    }
    if (filter.appGuid !== undefined) {
      params.push(filter.appGuid);
      where.push(`app_guid = $${params.length}`);
    }
    const r = await this.pool.query<ScheduleRow>(
      `SELECT * FROM pcap_schedules ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_ms DESC, id`,
      params,
    );
    return r.rows.map(rowToSchedule);
  }

  async changeState(id: string, change: ScheduleStateChange, onlyIf?: ScheduleState): Promise<boolean> {
    const r = await this.pool.query(
      `UPDATE pcap_schedules SET state = $2, paused_reason = $3, next_run_ms = $4, updated_ms = $5
       WHERE id = $1 ${onlyIf === undefined ? '' : 'AND state = $6'}`,
      [
        id,
        change.state,
        change.pausedReason,
        change.nextRunMs,
        change.nowMs,
        ...(onlyIf === undefined ? [] : [onlyIf]),
      ],
    );
    return r.rowCount === 1;
  }

  async deleteSchedule(id: string): Promise<boolean> {
    const r = await this.pool.query('DELETE FROM pcap_schedules WHERE id = $1', [id]);
    return r.rowCount === 1;
  }

  async dueSchedules(nowMs: number, limit: number): Promise<ScheduleRecord[]> {
    const r = await this.pool.query<ScheduleRow>(
      `SELECT * FROM pcap_schedules WHERE state = 'active' AND next_run_ms IS NOT NULL AND next_run_ms <= $1
       ORDER BY next_run_ms LIMIT $2`,
      [nowMs, limit],
    );
    return r.rows.map(rowToSchedule);
  }

  async claim(claim: OccurrenceClaim): Promise<boolean> {
    try {
      return await this.claimOnce(claim);
    } catch (err) {
      // Someone recorded this occurrence first (the unique key): not ours.
      if ((err as { code?: unknown }).code === UNIQUE_VIOLATION) return false;
      throw err;
    }
  }

  private claimOnce(claim: OccurrenceClaim): Promise<boolean> {
    return this.tx(async (c) => {
      const advanced = await c.query(
        `UPDATE pcap_schedules SET next_run_ms = $2, updated_ms = $3,
           state = CASE WHEN $2::BIGINT IS NULL THEN 'completed' ELSE state END
         WHERE id = $1 AND state = 'active' AND next_run_ms = $4`,
        [claim.scheduleId, claim.nextRunMs, claim.nowMs, claim.expectedNextMs],
      );
      if (advanced.rowCount !== 1) return false;
      for (const run of claim.runs) {
        const row = runToRow(run);
        await c.query(
          insertRun,
          RUN_COLUMNS.map((k) => row[k]),
        );
      }
      await c.query(
        `DELETE FROM pcap_schedule_runs WHERE schedule_id = $1 AND outcome <> 'running' AND id NOT IN (
           SELECT id FROM pcap_schedule_runs WHERE schedule_id = $1 ORDER BY occurrence_ms DESC LIMIT $2)`,
        [claim.scheduleId, claim.runsKept],
      );
      return true;
    });
  }

  async hasRunning(scheduleId: string): Promise<boolean> {
    const r = await this.pool.query(
      `SELECT 1 FROM pcap_schedule_runs WHERE schedule_id = $1 AND outcome = 'running' LIMIT 1`,
      [scheduleId],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async renewLease(runId: string, owner: string, untilMs: number): Promise<boolean> {
    const r = await this.pool.query(
      `UPDATE pcap_schedule_runs SET lease_until_ms = $3 WHERE id = $1 AND owner = $2 AND outcome = 'running'`,
      [runId, owner, untilMs],
    );
    return r.rowCount === 1;
  }

  async finishRun(runId: string, owner: string, result: RunResult): Promise<boolean> {
    const r = await this.pool.query(
      `UPDATE pcap_schedule_runs SET outcome = $3, ended_ms = $4, objects = $5, packets = $6, bytes = $7,
         drops = $8, discarded = $9, error = $10, lease_until_ms = NULL
       WHERE id = $1 AND owner = $2 AND outcome = 'running'`,
      [
        runId,
        owner,
        result.outcome,
        result.endedMs,
        JSON.stringify(result.objects),
        result.packets,
        result.bytes,
        result.drops,
        result.discarded,
        result.error,
      ],
    );
    return r.rowCount === 1;
  }

  async expireLeases(nowMs: number, error: string): Promise<ExpiredRun[]> {
    const r = await this.pool.query<RunRow & Record<string, string | null>>(
      `WITH expired AS (
         UPDATE pcap_schedule_runs SET outcome = 'failed', ended_ms = $1, error = $2, lease_until_ms = NULL
         WHERE outcome = 'running' AND lease_until_ms < $1 RETURNING *)
       SELECT expired.*, s.app_guid AS s_app_guid, s.app_name AS s_app_name, s.created_by AS s_created_by,
         s.created_by_name AS s_created_by_name
       FROM expired JOIN pcap_schedules s ON s.id = expired.schedule_id`,
      [nowMs, error],
    );
    return r.rows.map((row) => ({
      run: rowToRun(row),
      schedule: {
        id: String(row.schedule_id),
        appGuid: row.s_app_guid ?? '',
        appName: row.s_app_name ?? '',
        createdBy: row.s_created_by ?? '',
        createdByName: row.s_created_by_name ?? '',
      },
    }));
  }

  async listRuns(scheduleId: string, limit: number): Promise<RunRecord[]> {
    const r = await this.pool.query<RunRow>(
      'SELECT * FROM pcap_schedule_runs WHERE schedule_id = $1 ORDER BY occurrence_ms DESC, id LIMIT $2',
      [scheduleId, limit],
    );
    return r.rows.map(rowToRun);
  }

  private async tx<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }
}
