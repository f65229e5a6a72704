/**
 * The two schedule stores against real databases: SQLite in a temp dir and a PostgreSQL server started here.
 * The same behaviour is required of both; PostgreSQL is also raced by two stores (two pools, as two API instances).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { PostgresServer } from '../../../test/support/postgres-server';
import { PostgresScheduleStore } from '../src/schedules/postgres-schedule.store';
import type { RunRecord, ScheduleRecord } from '../src/schedules/schedule.model';
import type { ScheduleStore } from '../src/schedules/schedule.store';
import { SqliteScheduleStore } from '../src/schedules/sqlite-schedule.store';

const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);

function schedule(over: Partial<ScheduleRecord> = {}): ScheduleRecord {
  return {
    id: randomUUID(),
    appGuid: 'app-1',
    appName: 'web',
    spaceGuid: 'space-1',
    spaceName: 'dev',
    orgName: 'acme',
    createdBy: 'u-1',
    createdByName: 'dev',
    timing: { kind: 'cron', cron: '*/2 * * * * *', timezone: 'UTC' },
    sink: 'archive',
    capture: { app_guid: 'app-1', duration_seconds: 1, filter: 'udp' },
    state: 'active',
    pausedReason: null,
    nextRunMs: T0,
    createdMs: T0 - 1000,
    updatedMs: T0 - 1000,
    ...over,
  };
}

function run(scheduleId: string, occurrenceMs: number, over: Partial<RunRecord> = {}): RunRecord {
  return {
    id: randomUUID(),
    scheduleId,
    occurrenceMs,
    outcome: 'running',
    owner: 'instance-a',
    leaseUntilMs: occurrenceMs + 30_000,
    startedMs: occurrenceMs,
    endedMs: null,
    objects: [],
    packets: null,
    bytes: null,
    drops: null,
    discarded: null,
    error: null,
    ...over,
  };
}

const quota = { perApp: 10, perUser: 10 };

function storeSuite(name: string, open: () => Promise<ScheduleStore>, reset: () => Promise<void>): void {
  describe(name, () => {
    let store: ScheduleStore;
    beforeEach(async () => {
      await reset();
      store = await open();
      await store.init();
    });
    afterEach(async () => {
      await store.close();
    });

    it('stores a schedule and reads it back field by field', async () => {
      const s = schedule({
        timing: { kind: 'once', atMs: T0 },
        capture: { app_guid: 'app-1', instances: [0, 2] },
      });
      expect(await store.createSchedule(s, quota)).toBe('created');
      expect(await store.getSchedule(s.id)).toEqual(s);
      const c = schedule({ createdMs: T0 });
      await store.createSchedule(c, quota);
      expect((await store.listSchedules({ createdBy: 'u-1' })).map((x) => x.id)).toEqual([c.id, s.id]);
      expect(await store.listSchedules({ appGuid: 'nope' })).toEqual([]);
      expect(await store.getSchedule(randomUUID())).toBeUndefined();
    });

    it('refuses a schedule over the per-app and per-user quotas', async () => {
      for (let i = 0; i < 2; i++) await store.createSchedule(schedule(), { perApp: 2, perUser: 5 });
      expect(await store.createSchedule(schedule(), { perApp: 2, perUser: 5 })).toBe('app');
      expect(await store.createSchedule(schedule({ appGuid: 'app-2' }), { perApp: 2, perUser: 2 })).toBe(
        'user',
      );
      expect(await store.listSchedules({})).toHaveLength(2);
    });

    it('claims an occurrence once: the compare-and-set on next_run fails for the second claimer', async () => {
      const s = schedule();
      await store.createSchedule(s, quota);
      expect(await store.dueSchedules(T0 - 1, 10)).toEqual([]);
      expect((await store.dueSchedules(T0, 10)).map((x) => x.id)).toEqual([s.id]);
      const claim = (owner: string) => ({
        scheduleId: s.id,
        expectedNextMs: T0,
        nextRunMs: T0 + 2000,
        runs: [run(s.id, T0, { owner })],
        nowMs: T0,
        runsKept: 100,
      });
      expect(await store.claim(claim('a'))).toBe(true);
      expect(await store.claim(claim('b'))).toBe(false);
      const runs = await store.listRuns(s.id, 10);
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({ owner: 'a', outcome: 'running', occurrenceMs: T0 });
      expect((await store.getSchedule(s.id))?.nextRunMs).toBe(T0 + 2000);
      expect(await store.hasRunning(s.id)).toBe(true);
    });

    it('a one-off whose occurrence is claimed becomes completed', async () => {
      const s = schedule({ timing: { kind: 'once', atMs: T0 } });
      await store.createSchedule(s, quota);
      await store.claim({
        scheduleId: s.id,
        expectedNextMs: T0,
        nextRunMs: null,
        runs: [run(s.id, T0)],
        nowMs: T0,
        runsKept: 10,
      });
      expect(await store.getSchedule(s.id)).toMatchObject({ state: 'completed', nextRunMs: null });
      expect(await store.dueSchedules(T0 + 10_000, 10)).toEqual([]);
    });

    it('only the owner renews and finishes a run; an expired lease marks it failed', async () => {
      const s = schedule();
      await store.createSchedule(s, quota);
      const r = run(s.id, T0, { leaseUntilMs: T0 + 1000 });
      await store.claim({
        scheduleId: s.id,
        expectedNextMs: T0,
        nextRunMs: T0 + 2000,
        runs: [r],
        nowMs: T0,
        runsKept: 10,
      });
      expect(await store.renewLease(r.id, 'instance-b', T0 + 5000)).toBe(false);
      expect(await store.renewLease(r.id, 'instance-a', T0 + 5000)).toBe(true);
      expect(await store.expireLeases(T0 + 4000, 'dead')).toEqual([]);
      const expired = await store.expireLeases(T0 + 6000, 'the instance died');
      expect(expired).toHaveLength(1);
      expect(expired[0]?.run).toMatchObject({
        id: r.id,
        outcome: 'failed',
        error: 'the instance died',
        endedMs: T0 + 6000,
      });
      expect(expired[0]?.schedule).toMatchObject({ id: s.id, appName: 'web', createdBy: 'u-1' });
      const result = {
        outcome: 'succeeded' as const,
        endedMs: T0 + 7000,
        objects: ['k'],
        packets: 1,
        bytes: 2,
        drops: 0,
        discarded: 0,
        error: null,
      };
      expect(await store.finishRun(r.id, 'instance-a', result)).toBe(false);
      expect((await store.listRuns(s.id, 1))[0]).toMatchObject({
        outcome: 'failed',
        error: 'the instance died',
      });

      const r2 = run(s.id, T0 + 2000);
      await store.claim({
        scheduleId: s.id,
        expectedNextMs: T0 + 2000,
        nextRunMs: T0 + 4000,
        runs: [r2],
        nowMs: T0 + 2000,
        runsKept: 10,
      });
      expect(await store.finishRun(r2.id, 'instance-a', result)).toBe(true);
      expect((await store.listRuns(s.id, 1))[0]).toMatchObject({ ...result, id: r2.id, leaseUntilMs: null });
    });

    it('keeps runs_kept runs, pauses and resumes, and deletes a schedule with its runs', async () => {
      const s = schedule();
      await store.createSchedule(s, quota);
      let next = T0;
      for (let i = 0; i < 5; i++) {
        const ok = await store.claim({
          scheduleId: s.id,
          expectedNextMs: next,
          nextRunMs: next + 2000,
          runs: [run(s.id, next, { outcome: 'missed', owner: null, leaseUntilMs: null })],
          nowMs: next,
          runsKept: 3,
        });
        expect(ok).toBe(true);
        next += 2000;
      }
      expect((await store.listRuns(s.id, 10)).map((r) => r.occurrenceMs)).toEqual([
        T0 + 8000,
        T0 + 6000,
        T0 + 4000,
      ]);
      expect(
        await store.changeState(
          s.id,
          { state: 'paused', pausedReason: 'why', nextRunMs: null, nowMs: T0 },
          'active',
        ),
      ).toBe(true);
      expect(
        await store.changeState(
          s.id,
          { state: 'paused', pausedReason: 'x', nextRunMs: null, nowMs: T0 },
          'active',
        ),
      ).toBe(false);
      expect(await store.getSchedule(s.id)).toMatchObject({
        state: 'paused',
        pausedReason: 'why',
        nextRunMs: null,
      });
      expect(await store.dueSchedules(T0 + 100_000, 10)).toEqual([]);
      expect(await store.deleteSchedule(s.id)).toBe(true);
      expect(await store.deleteSchedule(s.id)).toBe(false);
      expect(await store.listRuns(s.id, 10)).toEqual([]);
    });
  });
}

let sqliteDir = '';
storeSuite(
  'SqliteScheduleStore',
  () => Promise.resolve(new SqliteScheduleStore(sqliteDir)),
  () => {
    if (sqliteDir) rmSync(sqliteDir, { recursive: true, force: true });
    sqliteDir = mkdtempSync(join(tmpdir(), 'sched-sqlite-'));
    return Promise.resolve();
  },
);
afterAll(() => {
  if (sqliteDir) rmSync(sqliteDir, { recursive: true, force: true });
});

describe('PostgreSQL', () => {
  let pg: PostgresServer | undefined;
  let db = 0;
  let url = '';
  beforeAll(async () => {
    pg = await PostgresServer.start();
  }, 120000);
  afterAll(() => pg?.stop());

  const fresh = async (): Promise<void> => {
    // A database per test: nothing carries over.
    const { Client } = await import('pg');
    const admin = new Client(pg!.url);
    await admin.connect();
    db += 1;
    await admin.query(`CREATE DATABASE t${db}`);
    await admin.end();
    url = pg!.url.replace(/\/postgres$/, `/t${db}`);
  };
  storeSuite(
    'PostgresScheduleStore',
    () => Promise.resolve(new PostgresScheduleStore({ url, poolSize: 4 })),
    fresh,
  );

  it('two stores (two instances) racing for 40 occurrences each win disjoint ones, every occurrence exactly once', async () => {
    await fresh();
    const a = new PostgresScheduleStore({ url, poolSize: 4 });
    const b = new PostgresScheduleStore({ url, poolSize: 4 });
    try {
      await Promise.all([a.init(), b.init()]);
      const s = schedule();
      await a.createSchedule(s, quota);
      const wins = { a: 0, b: 0 };
      for (let i = 0; i < 40; i++) {
        const at = T0 + i * 2000;
        const attempt = (store: ScheduleStore, owner: 'a' | 'b') =>
          store
            .claim({
              scheduleId: s.id,
              expectedNextMs: at,
              nextRunMs: at + 2000,
              runs: [run(s.id, at, { owner })],
              nowMs: at,
              runsKept: 1000,
            })
            .then((won) => {
              if (won) wins[owner] += 1;
              return won;
            });
        const results = await Promise.all([
          attempt(a, 'a'),
          attempt(b, 'b'),
          attempt(a, 'a'),
          attempt(b, 'b'),
        ]);
        expect(results.filter(Boolean)).toHaveLength(1);
      }
      expect(wins.a + wins.b).toBe(40);
      const runs = await a.listRuns(s.id, 1000);
      expect(runs).toHaveLength(40);
      expect(new Set(runs.map((r) => r.occurrenceMs)).size).toBe(40);
    } finally {
      await a.close();
      await b.close();
    }
  }, 60000);
});
