/**
 * Sinks through the whole stack: a simulated Diego cell (real runc containers), a real agent child process with its
 * plain metrics listener, the real API with an S3 sink on a real s3rver (loopback, temp dir), the UAA / CC doubles.
 * A capture named to the sink is streamed to the client and stored; the stored object is listed, downloaded
 * (streamed and presigned) and checked with tshark; only users who may capture the app may read it. Both /metrics
 * outputs pass `promtool check metrics` and their counters move by the capture's exact packet counts.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client, decodeMetadata, s3SinkConfigSchema } from '@pcap/sinks';

import {
  AgentProcess,
  apiConfigObject,
  ApiTestCerts,
  baseModel,
  call,
  type CfWorld,
  json,
  open,
  SPACE_DEV,
  startCfWorld,
  USERS,
} from '../../../test/support/api-harness';
import { type CellContainer, DiegoCell } from '../../../test/support/diego-cell';
import { S3TestServer } from '../../../test/support/s3-server';
import { tsharkFields } from '../../../test/support/tcpdump';
import { ApiUnderTest, RecordingLogger } from './api-under-test';

const APP = { guid: '1cb006ee-0000-4000-8000-00000000d001', name: 'stored-app' };
const HOST = '127.0.0.4';
const PACKETS = 25;

/** `promtool check metrics` on `text` (stdin); resolves with its exit code and output. */
function promtool(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, output }));
    child.stdin.end(text);
  });
}

/** Sum of every sample of `name` whose labels contain all of `labels` (e.g. `outcome="completed"`). */
function sample(text: string, name: string, ...labels: string[]): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if (!labels.every((l) => (m[2] ?? '').includes(l))) continue;
    sum += Number(m[3]);
  }
  return sum;
}

function get(url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    httpRequest(url, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

describe('sinks through the API: S3 storage, stored-capture access, metrics', () => {
  let world: CfWorld;
  let certs: ApiTestCerts;
  let cell: DiegoCell | undefined;
  let agent: AgentProcess | undefined;
  let api: ApiUnderTest | undefined;
  let s3: S3TestServer | undefined;
  let flaky: S3TestServer | undefined;
  let s3Client: S3Client | undefined;
  let logger: RecordingLogger;
  let dir: string;
  let instances: CellContainer[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'api-sinks-'));
    certs = ApiTestCerts.create();
    s3 = await S3TestServer.start();
    flaky = await S3TestServer.start('flaky-captures');
    s3Client = createS3Client({ ...s3SinkConfigSchema.parse(s3.sinkConfig()), name: 'reader' });
    cell = await DiegoCell.create([{ appId: APP.guid }, { appId: APP.guid }]);
    instances = [...cell.containers];
    agent = await AgentProcess.start(certs, {
      host: HOST,
      cellName: 'cell-s',
      storeFile: cell.storeFile,
      runcRoot: cell.runcRoot,
      metrics: true,
    });
    world = await startCfWorld(
      baseModel([
        {
          ...APP,
          spaceGuid: SPACE_DEV.guid,
          processes: [
            {
              type: 'web',
              instances: instances.map((c) => ({
                state: 'RUNNING' as const,
                host: HOST,
                instanceGuid: c.handle,
                internalIp: c.ip,
              })),
            },
          ],
        },
      ]),
    );
    logger = new RecordingLogger();
    api = await ApiUnderTest.start(
      apiConfigObject(world, certs, {
        agents: { endpoints: { [HOST]: agent.endpoint } },
        sinks: {
          archive: s3.sinkConfig({ prefix: 'captures/' }),
          flaky: flaky.sinkConfig({ retry: { max_attempts: 2, abort_attempts: 2, abort_backoff_ms: 100 } }),
        },
      }),
      { logger },
    );
  }, 180000);

  afterAll(async () => {
    await api?.close().catch(() => undefined);
    await agent?.stop();
    await cell?.destroy();
    await world?.stop();
    s3Client?.destroy();
    await s3?.destroy();
    await flaky?.destroy();
    certs?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60000);

  const tokenOf = (user: (typeof USERS)[keyof typeof USERS]): string => world.uaa.mintUserToken(user);
  const apiMetrics = async (): Promise<string> => (await call(`${api!.url}/metrics`)).body.toString();
  const agentMetrics = async (): Promise<string> =>
    (await get(`http://${HOST}:${agent!.metricsPort}/metrics`)).body.toString();

  async function waitIdle(): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if (json(await call(`${api!.url}/health`)).activeCaptures === 0) return;
      await sleep(100);
    }
    throw new Error('captures still running');
  }

  it('stores a capture in the named sink while streaming it; lists, streams and presigns it; metrics move exactly', async () => {
    const apiBefore = await apiMetrics();
    const agentBefore = await agentMetrics();

    const res = await open(`${api!.url}/captures`, {
      method: 'POST',
      headers: { authorization: `bearer ${tokenOf(USERS.developer)}` },
      body: { app_guid: APP.guid, filter: 'udp', duration_seconds: 5, sink: 'archive' },
    });
    expect(res.statusCode).toBe(200);
    const captureId = String(res.headers['x-capture-id']);
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise<void>((resolve, reject) => res.once('end', resolve).once('error', reject));
    for (const [i, c] of instances.entries()) {
      await cell!.sendUdpTo(c, { port: 7400 + i, count: PACKETS, size: 80, gapUs: 500 });
    }
    await ended;
    await waitIdle();
    const clientFile = join(dir, 'client.pcapng');
    writeFileSync(clientFile, Buffer.concat(chunks));
    const clientRows = tsharkFields(clientFile, ['udp.dstport'], 'udp');
    expect(clientRows).toHaveLength(2 * PACKETS);

    // Listed for the developer.
    const listed = await call(`${api!.url}/stored-captures?app_guid=${APP.guid}&sink=archive`, {
      headers: { authorization: `bearer ${tokenOf(USERS.developer)}` },
    });
    expect(listed.status).toBe(200);
    const captures = json(listed).captures as Array<{
      capture_id: string;
      objects: Array<{ part: number; size: number }>;
    }>;
    const mine = captures.find((c) => c.capture_id === captureId);
    expect(mine?.objects.map((o) => o.part)).toEqual([1]);

    // Streamed download: a valid pcapng with the same packets as the client got.
    const object = await call(
      `${api!.url}/stored-captures/${captureId}/1?app_guid=${APP.guid}&sink=archive`,
      {
        headers: { authorization: `bearer ${tokenOf(USERS.developer)}` },
      },
    );
    expect(object.status).toBe(200);
    expect(object.headers['content-type']).toBe('application/x-pcapng');
    expect(object.body.length).toBe(mine!.objects[0]!.size);
    const storedFile = join(dir, 'stored.pcapng');
    writeFileSync(storedFile, object.body);
    const storedRows = tsharkFields(storedFile, ['udp.dstport'], 'udp');
    expect(storedRows.map((r) => r[0]).sort()).toEqual(clientRows.map((r) => r[0]).sort());
    expect(new Set(storedRows.map((r) => r[0]))).toEqual(new Set(['7400', '7401']));
    const allStored = tsharkFields(storedFile, ['frame.number']).length;

    // Object metadata: who, what, how much.
    const key = `captures/acme/dev/${APP.name}/${captureId}/000001.pcapng`;
    const meta = decodeMetadata(
      (await s3Client!.send(new HeadObjectCommand({ Bucket: s3!.bucket, Key: key }))).Metadata,
    );
    expect(meta).toMatchObject({
      'capture-id': captureId,
      org: 'acme',
      space: 'dev',
      app: APP.name,
      'app-guid': APP.guid,
      instances: '0,1',
      filter: 'udp',
      'requested-by': USERS.developer.userName,
      packets: String(allStored),
      'kernel-drops': '0',
      complete: 'true',
    });

    // Presigned: a short-lived URL straight to the bucket, same bytes.
    const presigned = await call(
      `${api!.url}/stored-captures/${captureId}/1?app_guid=${APP.guid}&sink=archive&presign=true`,
      { headers: { authorization: `bearer ${tokenOf(USERS.developer)}` } },
    );
    expect(presigned.status).toBe(200);
    const { url, expires_in_seconds } = json(presigned) as { url: string; expires_in_seconds: number };
    expect(expires_in_seconds).toBe(300);
    expect(url).toContain('X-Amz-Expires=300');
    const fetched = await get(url);
    expect(fetched.status).toBe(200);
    expect(fetched.body.equals(object.body)).toBe(true);

    // Metrics: valid exposition format on both, counters moved by exactly this capture.
    const apiAfter = await apiMetrics();
    const agentAfter = await agentMetrics();
    for (const text of [apiAfter, agentAfter]) {
      const check = await promtool(text);
      expect(check.output).toBe('');
      expect(check.code).toBe(0);
    }
    const delta = (after: string, before: string, name: string, ...labels: string[]): number =>
      sample(after, name, ...labels) - sample(before, name, ...labels);
    expect(delta(apiAfter, apiBefore, 'pcap_api_packets_total')).toBe(allStored);
    expect(delta(apiAfter, apiBefore, 'pcap_api_captures_started_total')).toBe(1);
    expect(delta(apiAfter, apiBefore, 'pcap_api_captures_finished_total', 'outcome="completed"')).toBe(1);
    expect(delta(apiAfter, apiBefore, 'pcap_api_capture_duration_seconds_count')).toBe(1);
    expect(delta(apiAfter, apiBefore, 'pcap_api_sink_upload_bytes_total', 'sink="archive"')).toBe(
      object.body.length,
    );
    expect(delta(apiAfter, apiBefore, 'pcap_api_sink_upload_duration_seconds_count', 'sink="archive"')).toBe(
      1,
    );
    expect(delta(apiAfter, apiBefore, 'pcap_api_agent_requests_total', 'outcome="started"')).toBe(2);
    expect(sample(apiAfter, 'pcap_api_captures_active')).toBe(0);
    expect(delta(agentAfter, agentBefore, 'pcap_agent_packets_total')).toBe(allStored);
    expect(delta(agentAfter, agentBefore, 'pcap_agent_captures_finished_total')).toBe(2);
    expect(sample(agentAfter, 'pcap_agent_up')).toBe(1);

    // The Grafana dashboard only queries metrics these two processes export.
    const dashboard = readFileSync(
      join(__dirname, '..', '..', '..', 'docs', 'grafana', 'pcap-dashboard.json'),
      'utf8',
    );
    const queried = new Set([...dashboard.matchAll(/\b(pcap_(?:api|agent)_[a-z_]+)/g)].map((m) => m[1]!));
    expect(queried.size).toBeGreaterThan(10);
    for (const name of queried)
      expect(`${apiAfter}\n${agentAfter}`).toContain(`# TYPE ${name.replace(/_bucket$/, '')} `);

    const end = logger.entries('CaptureAudit').find((e) => {
      const m = e.message as Record<string, unknown>;
      return m.event === 'capture.end' && m.capture_id === captureId;
    });
    expect((end?.message as Record<string, unknown>).stored_objects).toEqual([key]);
  }, 120000);

  it('max_packets: the client, the stored object and the metrics get exactly max_packets packets (tshark)', async () => {
    const max = 13;
    const before = await apiMetrics();
    const res = await open(`${api!.url}/captures`, {
      method: 'POST',
      headers: { authorization: `bearer ${tokenOf(USERS.developer)}` },
      body: { app_guid: APP.guid, filter: 'udp', duration_seconds: 10, max_packets: max, sink: 'archive' },
    });
    expect(res.statusCode).toBe(200);
    const captureId = String(res.headers['x-capture-id']);
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise<void>((resolve, reject) => res.once('end', resolve).once('error', reject));
    // Both instances at once, each more than the limit: packets are still in flight when the API's limit is hit.
    await Promise.all(
      instances.map((c, i) => cell!.sendUdpTo(c, { port: 7600 + i, count: PACKETS, size: 80, gapUs: 200 })),
    );
    await ended;
    await waitIdle();

    const clientFile = join(dir, 'limit-client.pcapng');
    writeFileSync(clientFile, Buffer.concat(chunks));
    const clientRows = tsharkFields(clientFile, ['frame.time_epoch', 'udp.dstport'], 'udp');
    expect(clientRows).toHaveLength(max);

    const key = `captures/acme/dev/${APP.name}/${captureId}/000001.pcapng`;
    const object = await s3Client!.send(new GetObjectCommand({ Bucket: s3!.bucket, Key: key }));
    const storedFile = join(dir, 'limit-stored.pcapng');
    writeFileSync(storedFile, Buffer.from(await object.Body!.transformToByteArray()));
    expect(tsharkFields(storedFile, ['frame.number'])).toHaveLength(max);
    expect(tsharkFields(storedFile, ['frame.time_epoch', 'udp.dstport'], 'udp')).toEqual(clientRows);
    expect(decodeMetadata(object.Metadata).packets).toBe(String(max));
    const after = await apiMetrics();
    expect(sample(after, 'pcap_api_packets_total') - sample(before, 'pcap_api_packets_total')).toBe(max);
    expect(
      sample(after, 'pcap_api_captures_finished_total', 'outcome="limit"') -
        sample(before, 'pcap_api_captures_finished_total', 'outcome="limit"'),
    ).toBe(1);
  }, 120000);

  it('only users who may capture the app read its stored captures (403 for everyone else)', async () => {
    const list = (user: (typeof USERS)[keyof typeof USERS]) =>
      call(`${api!.url}/stored-captures?app_guid=${APP.guid}&sink=archive`, {
        headers: { authorization: `bearer ${tokenOf(user)}` },
      });
    expect((await list(USERS.developer2)).status).toBe(200);
    // Same space, but may not capture (no read_sensitive_data).
    expect((await list(USERS.auditor)).status).toBe(403);
    // Another space's developer: the app is invisible to them; stored captures answer 403 all the same.
    const outsider = await list(USERS.outsider);
    expect(outsider.status).toBe(403);
    expect(String(json(outsider).message)).toContain('may not read stored captures');
    const listed = json(await list(USERS.developer)).captures as Array<{ capture_id: string }>;
    // Refused before any lookup: a stored capture (from the test above) or any id gives 403.
    const id = listed[0]?.capture_id ?? '00000000-0000-4000-8000-000000000001';
    for (const user of [USERS.outsider, USERS.auditor]) {
      for (const suffix of ['', '&presign=true']) {
        const r = await call(
          `${api!.url}/stored-captures/${id}/1?app_guid=${APP.guid}&sink=archive${suffix}`,
          {
            headers: { authorization: `bearer ${tokenOf(user)}` },
          },
        );
        expect(r.status).toBe(403);
      }
    }
    expect((await call(`${api!.url}/stored-captures?app_guid=${APP.guid}&sink=archive`)).status).toBe(401);
    const missing = await call(
      `${api!.url}/stored-captures/00000000-0000-4000-8000-000000000000/1?app_guid=${APP.guid}&sink=archive`,
      { headers: { authorization: `bearer ${tokenOf(USERS.developer)}` } },
    );
    expect(missing.status).toBe(404);
    const unknownSink = await list(USERS.developer).then(() =>
      call(`${api!.url}/stored-captures?app_guid=${APP.guid}&sink=elsewhere`, {
        headers: { authorization: `bearer ${tokenOf(USERS.developer)}` },
      }),
    );
    expect(unknownSink.status).toBe(400);
    const badCapture = await call(`${api!.url}/captures`, {
      method: 'POST',
      headers: { authorization: `bearer ${tokenOf(USERS.developer)}` },
      body: { app_guid: APP.guid, sink: 'elsewhere' },
    });
    expect(badCapture.status).toBe(400);
    expect(String(json(badCapture).message)).toContain(
      "no sink named 'elsewhere' is configured (configured: archive, flaky)",
    );
  }, 60000);

  it('a storage sink that fails: the capture is reported failed with the reason, the client file stays valid, nothing stored', async () => {
    const before = await apiMetrics();
    const res = await open(`${api!.url}/captures`, {
      method: 'POST',
      headers: { authorization: `bearer ${tokenOf(USERS.developer)}` },
      body: { app_guid: APP.guid, filter: 'udp', duration_seconds: 3, sink: 'flaky' },
    });
    expect(res.statusCode).toBe(200);
    const captureId = String(res.headers['x-capture-id']);
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise<void>((resolve, reject) => res.once('end', resolve).once('error', reject));
    await flaky!.stop();
    await cell!.sendUdpTo(instances[0]!, { port: 7500, count: PACKETS, size: 80, gapUs: 500 });
    await ended;
    await waitIdle();
    await flaky!.restart();

    const file = join(dir, 'flaky-client.pcapng');
    writeFileSync(file, Buffer.concat(chunks));
    expect(tsharkFields(file, ['udp.dstport'], 'udp')).toHaveLength(PACKETS);
    const end = logger.entries('CaptureAudit').find((e) => {
      const m = e.message as Record<string, unknown>;
      return m.event === 'capture.end' && m.capture_id === captureId;
    });
    const outcome = String((end?.message as Record<string, unknown>).outcome);
    expect(outcome).toMatch(/^failed: sink flaky: S3 sink 'flaky' failed: .*ECONNREFUSED/);
    const after = await apiMetrics();
    expect(
      sample(after, 'pcap_api_sink_errors_total', 'sink="flaky"') -
        sample(before, 'pcap_api_sink_errors_total', 'sink="flaky"'),
    ).toBe(1);
    expect(
      sample(after, 'pcap_api_captures_finished_total', 'outcome="failed"') -
        sample(before, 'pcap_api_captures_finished_total', 'outcome="failed"'),
    ).toBe(1);
    const listed = await call(`${api!.url}/stored-captures?app_guid=${APP.guid}&sink=flaky`, {
      headers: { authorization: `bearer ${tokenOf(USERS.developer)}` },
    });
    expect(json(listed).captures).toEqual([]);
    expect(flaky!.pendingUploads()).toEqual([]);
  }, 120000);
});
