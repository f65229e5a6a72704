/**
 * Scheduled captures end to end through real parts: a simulated Diego cell (real runc container in its own
 * namespace), a real agent as a child process (HTTP/2 + mTLS on 127.0.0.2), the real API (in-process, one or two
 * instances), the UAA / CC doubles (the API's own client `pcap-scheduler` gets client-credentials tokens), a real
 * S3-protocol server (s3rver) for the `archive` sink, SQLite in a temp dir and a PostgreSQL server started here.
 * Every stored object is read back from S3 and checked with tshark.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';

import {
  AgentProcess,
  apiConfigObject,
  ApiProcess,
  ApiTestCerts,
  baseModel,
  call,
  type CfWorld,
  type HttpResult,
  json,
  SPACE_DEV,
  startCfWorld,
  USERS,
} from '../../../test/support/api-harness';
import { type CellContainer, DiegoCell } from '../../../test/support/diego-cell';
import { PostgresServer } from '../../../test/support/postgres-server';
import { S3TestServer, TEST_S3_CREDENTIALS } from '../../../test/support/s3-server';
import { tsharkFields } from '../../../test/support/tcpdump';
import { PostgresScheduleStore } from '../src/schedules/postgres-schedule.store';
import { ApiUnderTest, RecordingLogger } from './api-under-test';

const APP = { guid: '1cb006ee-0000-4000-8000-00000000d001', name: 'sched-app' };
const HOST = '127.0.0.2';
const CLIENT = {
  id: 'pcap-scheduler',
  secret: 'scheduler-secret',
  authorities: ['cloud_controller.admin_read_only'],
};

type Json = Record<string, unknown>;
/** An API to talk to: in-process or a child process. */
type Endpoint = { readonly url: string };

/** UDP datagrams into a container every 50 ms from the cell namespace, until stopped (killed by PID). */
function udpTicker(cell: DiegoCell, c: CellContainer, port: number): { stop(): void } {
  const script =
    `const s=require('node:dgram').createSocket('udp4');let n=0;` +
    `setInterval(()=>{const b=Buffer.alloc(64,97);b.writeUInt32BE(n++,0);s.send(b,${port},'${c.ip}');},50);`;
  const child: ChildProcess = spawn('ip', ['netns', 'exec', cell.cellNs, process.execPath, '-e', script], {
    stdio: 'ignore',
  });
  return {
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

describe('scheduled captures stored to S3', () => {
  let world: CfWorld;
  let certs: ApiTestCerts;
  let cell: DiegoCell | undefined;
  let agent: AgentProcess | undefined;
  let s3: S3TestServer | undefined;
  let s3client: S3Client | undefined;
  let pg: PostgresServer | undefined;
  let dir: string;
  let container: CellContainer;
  let ticker: { stop(): void } | undefined;
  let child: ApiProcess | undefined;
  const apis: ApiUnderTest[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sched-e2e-'));
    certs = ApiTestCerts.create();
    s3 = await S3TestServer.start();
    s3client = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: {
        accessKeyId: TEST_S3_CREDENTIALS.access_key_id,
        secretAccessKey: TEST_S3_CREDENTIALS.secret_access_key,
      },
    });
    pg = await PostgresServer.start();
    cell = await DiegoCell.create([{ appId: APP.guid }]);
    container = cell.containers[0]!;
    agent = await AgentProcess.start(certs, {
      host: HOST,
      cellName: 'cell-s',
      storeFile: cell.storeFile,
      runcRoot: cell.runcRoot,
    });
    world = await startCfWorld(
      baseModel([
        {
          ...APP,
          spaceGuid: SPACE_DEV.guid,
          processes: [
            {
              type: 'web',
              instances: [
                { state: 'RUNNING', host: HOST, instanceGuid: container.handle, internalIp: container.ip },
              ],
            },
          ],
        },
      ]),
    );
    world.uaa.addClient(CLIENT);
    ticker = udpTicker(cell, container, 7700);
  }, 180000);

  afterAll(async () => {
    ticker?.stop();
    await child?.kill();
    for (const a of apis) await a.close().catch(() => undefined);
    await agent?.stop();
    await cell?.destroy();
    await world?.stop();
    s3client?.destroy();
    await s3?.destroy();
    pg?.stop();
    certs?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60000);

  function config(store: Json, schedules: Json = {}): Json {
    return apiConfigObject(world, certs, {
      agents: { endpoints: { [HOST]: agent!.endpoint } },
      sinks: { archive: s3!.sinkConfig() },
      schedules: {
        store,
        uaa_client: { id: CLIENT.id, secret: CLIENT.secret },
        tick_seconds: 0.25,
        lease_seconds: 3,
        missed_after_seconds: 2,
        min_interval_seconds: 2,
        max_duration_seconds: 30,
        max_per_app: 5,
        ...schedules,
      },
    });
  }

  async function startApi(
    store: Json,
    logger?: RecordingLogger,
    schedules: Json = {},
  ): Promise<ApiUnderTest> {
    const api = await ApiUnderTest.start(config(store, schedules), logger ? { logger } : {});
    apis.push(api);
    return api;
  }

  async function stopApi(api: ApiUnderTest): Promise<void> {
    apis.splice(apis.indexOf(api), 1);
    await api.close();
  }

  const sqlite = (name: string): Json => ({ kind: 'sqlite', data_dir: join(dir, name) });
  const token = (user = USERS.developer): string => world.uaa.mintUserToken(user);

  function request(api: Endpoint, method: string, path: string, body?: unknown, user = USERS.developer) {
    return call(`${api.url}${path}`, {
      method,
      headers: { authorization: `bearer ${token(user)}` },
      ...(body === undefined ? {} : { body }),
    });
  }

  async function create(api: Endpoint, body: Json, user = USERS.developer): Promise<Json> {
    const res = await request(api, 'POST', '/schedules', body, user);
    if (res.status !== 201) throw new Error(`create: ${res.status} ${res.body.toString()}`);
    return json(res);
  }

  async function runs(api: Endpoint, id: string): Promise<Json[]> {
    const res = await request(api, 'GET', `/schedules/${id}/runs`);
    expect(res.status).toBe(200);
    return (json(res).resources as Json[]).slice().reverse();
  }

  /** Reads an object from S3 into a file; returns the UDP destination ports tshark sees in it. */
  async function objectPorts(key: string): Promise<string[]> {
    const got = await s3client!.send(new GetObjectCommand({ Bucket: s3!.bucket, Key: key }));
    const file = join(dir, `${randomUUID()}.pcapng`);
    writeFileSync(file, await got.Body!.transformToByteArray());
    return tsharkFields(file, ['udp.dstport'], 'udp').map((r) => r[0]!);
  }

  /** Every key in the bucket. */
  async function allKeys(): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3client!.send(
        new ListObjectsV2Command({
          Bucket: s3!.bucket,
          ...(token === undefined ? {} : { ContinuationToken: token }),
        }),
      );
      for (const o of page.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key);
      token = page.NextContinuationToken;
    } while (token !== undefined);
    return keys;
  }

  const inSeconds = (s: number): string => new Date(Date.now() + s * 1000).toISOString();
  const body = (over: Json = {}): Json => ({
    app_guid: APP.guid,
    filter: 'udp port 7700',
    duration_seconds: 1,
    sink: 'archive',
    ...over,
  });

  it('refuses bad schedules with specific 4xx messages', async () => {
    const api = await startApi(sqlite('validation'));
    const expectRefusal = async (b: Json, status: number, text: string, user = USERS.developer) => {
      const res: HttpResult = await request(api, 'POST', '/schedules', b, user);
      expect({ status: res.status, message: String(json(res).message) }).toEqual({
        status,
        message: expect.stringContaining(text) as unknown,
      });
    };
    await expectRefusal(
      body({ cron: '61 * * * *' }),
      400,
      "cron: '61 * * * *' is not a valid cron expression",
    );
    await expectRefusal(body({ cron: '* * *' }), 400, 'has 3 fields; give 5');
    await expectRefusal(body({ cron: '* * * * * *' }), 400, 'the limit schedules.min_interval_seconds is 2');
    await expectRefusal(body({ cron: '*/2 * * * * *', duration_seconds: 2 }), 400, 'not shorter than the 2s');
    await expectRefusal(
      body({ at: inSeconds(60), duration_seconds: 31 }),
      400,
      'duration_seconds 31 exceeds the limit schedules.max_duration_seconds = 30',
    );
    await expectRefusal(
      body({ at: inSeconds(60), max_bytes: 2 ** 31 }),
      400,
      'max_bytes 2147483648 exceeds the limit schedules.max_bytes = 1073741824',
    );
    await expectRefusal(
      body({ at: inSeconds(60), sink: 'nowhere' }),
      400,
      "sink: 'nowhere' is not configured; configured sinks: archive",
    );
    await expectRefusal(body({ at: '2020-01-01T00:00:00Z' }), 400, 'is in the past');
    await expectRefusal(body({ at: '2030-01-01 10:00' }), 400, 'not an ISO 8601 time with a zone');
    await expectRefusal(body({ at: inSeconds(60), cron: '0 * * * *' }), 400, 'give either at');
    await expectRefusal(
      body({ cron: '0 * * * *', timezone: 'Mars/Olympus' }),
      400,
      "'Mars/Olympus' is not a known time zone",
    );
    await expectRefusal(
      body({ at: inSeconds(60), duration_seconds: undefined }),
      400,
      'duration_seconds: required',
    );
    await expectRefusal(body({ at: inSeconds(60), filter: 'udp port' }), 400, 'syntax error');
    await expectRefusal(body({ at: inSeconds(60), colour: 'red' }), 400, 'colour');
    await expectRefusal(body({ at: inSeconds(60) }), 403, 'not capture', USERS.auditor);
    await expectRefusal(body({ at: inSeconds(60) }), 404, 'not found', USERS.outsider);
    const noAuth = await call(`${api.url}/schedules`, { method: 'POST', body: body({ at: inSeconds(60) }) });
    expect(noAuth.status).toBe(401);
    // Quota: five per app.
    for (let i = 0; i < 5; i++) await create(api, body({ at: inSeconds(600 + i) }));
    await expectRefusal(body({ at: inSeconds(700) }), 400, 'the limit schedules.max_per_app is 5');
    const mine = json(await request(api, 'GET', '/schedules')).resources as Json[];
    expect(mine).toHaveLength(5);
    for (const s of mine)
      expect((await request(api, 'DELETE', `/schedules/${String(s.id)}`)).status).toBe(204);
    expect(json(await request(api, 'GET', '/schedules')).resources).toEqual([]);
    await stopApi(api);
  }, 60000);

  it('a one-off schedule a few seconds ahead runs; its capture lands in S3 and tshark reads it', async () => {
    const logger = new RecordingLogger();
    const api = await startApi(sqlite('once'), logger);
    const s = await create(api, body({ at: inSeconds(2), duration_seconds: 3 }));
    expect(s).toMatchObject({
      state: 'active',
      sink: 'archive',
      app: { name: APP.name },
      org: { name: 'acme' },
    });
    const id = String(s.id);
    const [run] = await waitFor(
      'the run to end',
      async () => {
        const r = await runs(api, id);
        return r.length === 1 && r[0]!.outcome !== 'running' ? r : undefined;
      },
      30000,
    );
    expect(run).toMatchObject({ outcome: 'succeeded', error: null, drops: 0 });
    expect(Number(run!.packets)).toBeGreaterThan(20);
    const objects = run!.objects as string[];
    expect(objects).toHaveLength(1);
    expect(objects[0]).toMatch(new RegExp(`^acme/dev/${APP.name}/[0-9a-f-]{36}/\\d+\\.pcapng$`));
    const ports = await objectPorts(objects[0]!);
    expect(ports.length).toBe(run!.packets);
    expect(new Set(ports)).toEqual(new Set(['7700']));
    expect(json(await request(api, 'GET', `/schedules/${id}`))).toMatchObject({
      state: 'completed',
      next_run_at: null,
    });
    const audit = logger.entries('ScheduleAudit').map((e) => e.message as Json);
    expect(audit.map((e) => e.event)).toEqual(['schedule.create', 'schedule.run.start', 'schedule.run.end']);
    expect(audit[2]).toMatchObject({ outcome: 'succeeded', schedule_id: id, user_id: USERS.developer.id });
    expect(logger.lines.join('\n')).not.toContain(CLIENT.secret);
    await stopApi(api);
  }, 60000);

  it('a recurring schedule runs at every occurrence, each run its own object', async () => {
    const api = await startApi(sqlite('cron'));
    const s = await create(api, body({ cron: '*/2 * * * * *' }));
    const id = String(s.id);
    const done = await waitFor(
      'three finished runs',
      async () => {
        const r = (await runs(api, id)).filter((x) => x.outcome !== 'running');
        return r.length >= 3 ? r : undefined;
      },
      30000,
    );
    expect((await request(api, 'POST', `/schedules/${id}/pause`)).status).toBe(200);
    const times = done.map((r) => Date.parse(String(r.occurrence_at)));
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(2000);
    for (const r of done.slice(0, 3)) {
      expect(r.outcome).toBe('succeeded');
      const [key] = r.objects as string[];
      const ports = await objectPorts(key!);
      expect(ports.length).toBe(r.packets);
      expect(ports.length).toBeGreaterThan(5);
    }
    await stopApi(api);
  }, 60000);

  it('a creator who lost the space developer role: the run is skipped with the reason and the schedule paused', async () => {
    const api = await startApi(sqlite('role'));
    const s = await create(api, body({ cron: '*/2 * * * * *' }), USERS.developer2);
    const id = String(s.id);
    const roles = world.cc.model.roles;
    const index = roles.findIndex((r) => r.userGuid === USERS.developer2.id && r.type === 'space_developer');
    const [removed] = roles.splice(index, 1);
    try {
      const skipped = await waitFor(
        'a skipped run',
        async () => (await runs(api, id)).find((r) => r.outcome === 'skipped'),
        15000,
      );
      expect(String(skipped.error)).toContain('the creator dev2 is no longer a space developer');
      const shown = json(await request(api, 'GET', `/schedules/${id}`, undefined, USERS.developer2));
      expect(shown).toMatchObject({ state: 'paused', next_run_at: null });
      expect(String(shown.paused_reason)).toContain('no longer a space developer');
      await sleep(2500);
      expect((await runs(api, id)).map((r) => r.outcome)).toEqual(['skipped']);
      // Another developer of the space sees it and cannot resume it for dev2 without dev2's role coming back.
      expect((await request(api, 'GET', `/schedules/${id}`)).status).toBe(200);
    } finally {
      if (removed) roles.push(removed);
    }
    await stopApi(api);
  }, 60000);

  it('schedules survive a restart; occurrences while the API was down are recorded as missed', async () => {
    const store = sqlite('restart');
    let api = await startApi(store);
    const once = await create(api, body({ at: inSeconds(2) }));
    const cron = await create(api, body({ cron: '*/2 * * * * *' }));
    await request(api, 'POST', `/schedules/${String(cron.id)}/pause`);
    await stopApi(api);
    await sleep(5000);
    api = await startApi(store);
    const listed = (json(await request(api, 'GET', '/schedules')).resources as Json[]).map((s) => s.id);
    expect(listed.sort()).toEqual([once.id, cron.id].sort());
    const missed = await waitFor(
      'the missed run',
      async () => {
        const r = await runs(api, String(once.id));
        return r.length === 1 ? r[0] : undefined;
      },
      5000,
    );
    expect(missed).toMatchObject({
      outcome: 'missed',
      error: 'the API was not running at that time',
      objects: [],
    });
    expect(Date.parse(String(missed.occurrence_at))).toBe(Date.parse(String(once.at)));
    // The paused schedule resumes after the restart and runs.
    expect(json(await request(api, 'POST', `/schedules/${String(cron.id)}/resume`))).toMatchObject({
      state: 'active',
    });
    const ran = await waitFor(
      'a run after the restart',
      async () => (await runs(api, String(cron.id))).find((r) => r.outcome === 'succeeded'),
      15000,
    );
    expect(ran.objects).toHaveLength(1);
    expect((await request(api, 'DELETE', `/schedules/${String(cron.id)}`)).status).toBe(204);
    await stopApi(api);

    // Down across several occurrences of an active cron schedule: each is recorded as missed.
    api = await startApi(store);
    const c2 = await create(api, body({ cron: '*/2 * * * * *' }));
    await stopApi(api);
    await sleep(7000);
    api = await startApi(store);
    const after = await waitFor(
      'missed occurrences',
      async () => {
        const r = await runs(api, String(c2.id));
        return r.some((x) => x.outcome === 'missed') && r.some((x) => x.outcome !== 'missed') ? r : undefined;
      },
      10000,
    );
    const missedRuns = after.filter((r) => r.outcome === 'missed');
    expect(missedRuns.length).toBeGreaterThanOrEqual(2);
    const occurrences = after.map((r) => Date.parse(String(r.occurrence_at)));
    for (let i = 1; i < occurrences.length; i++) expect(occurrences[i]! - occurrences[i - 1]!).toBe(2000);
    await request(api, 'DELETE', `/schedules/${String(c2.id)}`);
    await stopApi(api);
  }, 90000);

  it('two API instances on one PostgreSQL run each occurrence exactly once; a dead instance’s run fails by lease', async () => {
    const store = { kind: 'postgres', url: pg!.url };
    const a = await startApi(store);
    const b = await startApi(store);
    const keysBefore = new Set(await allKeys());
    const s = await create(a, body({ cron: '*/2 * * * * *' }));
    const id = String(s.id);
    const done = await waitFor(
      'five finished runs',
      async () => {
        const r = (await runs(b, id)).filter((x) => x.outcome !== 'running');
        return r.length >= 5 ? r : undefined;
      },
      40000,
    );
    expect((await request(b, 'POST', `/schedules/${id}/pause`)).status).toBe(200);
    await sleep(2000);
    const all = await runs(a, id);
    const occurrences = all.map((r) => Date.parse(String(r.occurrence_at)));
    expect(new Set(occurrences).size).toBe(all.length);
    for (let i = 1; i < occurrences.length; i++) expect(occurrences[i]! - occurrences[i - 1]!).toBe(2000);
    expect(all.every((r) => r.outcome === 'succeeded')).toBe(true);
    const keys = all.flatMap((r) => r.objects as string[]);
    expect(new Set(keys).size).toBe(all.length);
    // Nothing else was captured into the bucket meanwhile: no occurrence ran twice on the side.
    const newKeys = (await allKeys()).filter((k) => !keysBefore.has(k));
    expect(newKeys.sort()).toEqual([...keys].sort());
    const perInstance = new Map<string, number>();
    for (const r of all) perInstance.set(String(r.instance), (perInstance.get(String(r.instance)) ?? 0) + 1);
    process.stdout.write(
      `two instances, ${all.length} occurrences: runs per instance ${JSON.stringify([...perInstance.values()])}\n`,
    );
    for (const key of keys.slice(0, 2)) expect((await objectPorts(key)).length).toBeGreaterThan(5);
    expect(done.length).toBeGreaterThanOrEqual(5);

    // An instance that claimed an occurrence and died: nobody renews its lease; a live instance marks it failed.
    const dead = new PostgresScheduleStore({ url: pg!.url, poolSize: 1 });
    try {
      const s2 = await create(a, body({ cron: '0 0 1 1 *' }));
      const row = await dead.getSchedule(String(s2.id));
      const runId = randomUUID();
      const now = Date.now();
      expect(
        await dead.claim({
          scheduleId: row!.id,
          expectedNextMs: row!.nextRunMs!,
          nextRunMs: row!.nextRunMs! + 365 * 24 * 3600 * 1000,
          runs: [
            {
              id: runId,
              scheduleId: row!.id,
              occurrenceMs: row!.nextRunMs!,
              outcome: 'running',
              owner: 'dead-instance',
              leaseUntilMs: now + 1000,
              startedMs: now,
              endedMs: null,
              objects: [],
              packets: null,
              bytes: null,
              drops: null,
              discarded: null,
              error: null,
            },
          ],
          nowMs: now,
          runsKept: 10,
        }),
      ).toBe(true);
      const failed = await waitFor(
        'the expired run to be failed',
        async () => (await runs(b, String(s2.id))).find((r) => r.id === runId && r.outcome === 'failed'),
        10000,
      );
      expect(String(failed.error)).toContain('stopped renewing its lease');
      await request(a, 'DELETE', `/schedules/${String(s2.id)}`);
    } finally {
      await dead.close();
    }
    await request(a, 'DELETE', `/schedules/${id}`);
    await stopApi(a);
    await stopApi(b);
  }, 90000);

  it('an API instance killed mid-run: another instance marks the run failed when its lease ends; no object is stored', async () => {
    const store = { kind: 'postgres', url: pg!.url };
    child = await ApiProcess.start(config(store));
    const viaChild: Endpoint = { url: child.url };
    const s = await create(viaChild, body({ at: inSeconds(2), duration_seconds: 20 }));
    const id = String(s.id);
    const running = await waitFor(
      'the run to start in the child',
      async () => (await runs(viaChild, id)).find((r) => r.outcome === 'running'),
      20000,
    );
    await sleep(1500);
    await child.kill();
    child = undefined;
    const killedAt = Date.now();
    const survivor = await startApi(store);
    const failed = await waitFor(
      'the run to be marked failed',
      async () => (await runs(survivor, id)).find((r) => r.id === running.id && r.outcome === 'failed'),
      20000,
    );
    // Not before the lease (3 s, renewed every second) ran out; well before the capture's 20 s would have ended.
    expect(Date.parse(String(failed.ended_at))).toBeGreaterThan(killedAt);
    expect(Date.parse(String(failed.ended_at)) - Date.parse(String(failed.started_at))).toBeLessThan(15000);
    expect(failed.instance).toBe(running.instance);
    expect(String(failed.error)).toContain('stopped renewing its lease');
    expect(failed.objects).toEqual([]);
    expect((await allKeys()).filter((k) => k.includes(String(running.id)))).toEqual([]);
    await request(survivor, 'DELETE', `/schedules/${id}`);
    await stopApi(survivor);
  }, 120000);

  it('stopping the API mid-run drains the capture: the run is recorded succeeded with what was captured', async () => {
    const store = sqlite('drain');
    let api = await startApi(store);
    const s = await create(api, body({ at: inSeconds(2), duration_seconds: 20 }));
    const id = String(s.id);
    await waitFor(
      'the run to start',
      async () => (await runs(api, id)).find((r) => r.outcome === 'running'),
      20000,
    );
    await sleep(2000);
    const stopping = Date.now();
    await stopApi(api);
    expect(Date.now() - stopping).toBeLessThan(10000);
    api = await startApi(store);
    const [run] = await runs(api, id);
    expect(run).toMatchObject({ outcome: 'succeeded', error: null });
    expect(Number(run!.packets)).toBeGreaterThan(10);
    const [key] = run!.objects as string[];
    expect((await objectPorts(key!)).length).toBe(run!.packets);
    await stopApi(api);
  }, 90000);

  it('a run whose UAA client is refused fails with that reason, and the secret appears in no log line', async () => {
    const logger = new RecordingLogger();
    const api = await startApi(sqlite('bad-client'), logger, {
      uaa_client: { id: CLIENT.id, secret: 'wrong-secret' },
      max_bytes: 4096,
    });
    const s = await create(api, body({ at: inSeconds(1) }));
    expect((s.capture as Json).max_bytes).toBe(4096);
    const [run] = await waitFor(
      'the failed run',
      async () => {
        const r = await runs(api, String(s.id));
        return r.length === 1 && r[0]!.outcome !== 'running' ? r : undefined;
      },
      15000,
    );
    expect(run).toMatchObject({
      outcome: 'failed',
      error:
        "the API could not get its own UAA token: UAA refused the credentials of client 'pcap-scheduler'",
    });
    expect(logger.lines.join('\n')).not.toContain('wrong-secret');
    await stopApi(api);
  }, 60000);

  it('S3 down during a run: the run fails naming the sink, and nothing looks stored', async () => {
    const api = await startApi(sqlite('s3-down'));
    const s = await create(api, body({ at: inSeconds(1), duration_seconds: 2 }));
    await s3!.stop();
    try {
      const [run] = await waitFor(
        'the run to end',
        async () => {
          const r = await runs(api, String(s.id));
          return r.length === 1 && r[0]!.outcome !== 'running' ? r : undefined;
        },
        60000,
      );
      expect(run).toMatchObject({ outcome: 'failed', objects: [] });
      expect(String(run!.error)).toContain("storing the capture in sink 'archive' failed");
    } finally {
      await s3!.restart();
    }
    expect(s3!.pendingUploads()).toEqual([]);
    await stopApi(api);
  }, 90000);
});
