/**
 * `GET /health` with storage sinks, through the real API: one S3 sink on a real s3rver (loopback, temp dir) that
 * the test stops and restarts, one on a TCP server that accepts and never answers (a hung S3 endpoint). Each sink's
 * state is reported within the check timeout (with its reason when `health.show_sink_reasons` is on; by default the
 * reason is only logged, once per change); a failing sink makes the API `degraded`, never unhealthy (200);
 * `pcap_api_sink_up` follows.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  apiConfigObject,
  ApiTestCerts,
  baseModel,
  call,
  type CfWorld,
  json,
  startCfWorld,
} from '../../../test/support/api-harness';
import { S3TestServer } from '../../../test/support/s3-server';
import { ApiUnderTest, RecordingLogger } from './api-under-test';

const TIMEOUT_S = 1;
const INTERVAL_S = 2;

describe('GET /health reports the storage sinks', () => {
  let world: CfWorld;
  let certs: ApiTestCerts;
  let api: ApiUnderTest | undefined;
  let s3: S3TestServer | undefined;
  let hung: Server | undefined;
  let hungPort = 0;
  const hungSockets = new Set<Socket>();

  beforeAll(async () => {
    s3 = await S3TestServer.start('health-api');
    hung = createServer((socket) => {
      socket.resume();
      hungSockets.add(socket);
      socket.once('close', () => hungSockets.delete(socket));
    });
    await new Promise<void>((resolve) => hung!.listen(0, '127.0.0.1', resolve));
    hungPort = (hung.address() as { port: number }).port;
    world = await startCfWorld(baseModel([]));
    certs = ApiTestCerts.create();
    api = await ApiUnderTest.start(
      apiConfigObject(world, certs, {
        health: {
          sink_check_timeout_seconds: TIMEOUT_S,
          sink_check_interval_seconds: INTERVAL_S,
          show_sink_reasons: true,
        },
        sinks: {
          archive: s3.sinkConfig(),
          hung: s3.sinkConfig({ endpoint: `http://127.0.0.1:${hungPort}` }),
        },
      }),
    );
  }, 60000);

  afterAll(async () => {
    await api?.close();
    await world?.stop();
    certs?.destroy();
    await s3?.destroy();
    for (const socket of hungSockets) socket.destroy();
    await new Promise<void>((resolve) => (hung ? hung.close(() => resolve()) : resolve()));
  });

  async function health(): Promise<{ status: number; body: Record<string, unknown>; ms: number }> {
    const began = Date.now();
    const res = await call(`${api!.url}/health`);
    return { status: res.status, body: json(res), ms: Date.now() - began };
  }

  const sinkUp = async (sink: string): Promise<number> => {
    const text = (await call(`${api!.url}/metrics`)).body.toString();
    const m = new RegExp(`^pcap_api_sink_up\\{sink="${sink}"\\} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : NaN;
  };

  it('a reachable sink is ok; a hung one is reported within the timeout; the API stays healthy (degraded, 200)', async () => {
    const first = await health();
    expect(first.ms).toBeLessThan(TIMEOUT_S * 1000 + 1000);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      healthy: true,
      state: 'degraded',
      activeCaptures: 0,
      sinks: [
        { name: 'archive', kind: 's3', status: 'ok' },
        {
          name: 'hung',
          kind: 's3',
          status: 'error',
          reason: `no answer within ${TIMEOUT_S * 1000} ms (check aborted)`,
        },
      ],
    });
    const sinks = first.body.sinks as Array<Record<string, unknown>>;
    expect(sinks[0]).not.toHaveProperty('reason');
    expect(Date.parse(String(sinks[0]!.checkedAt))).toBeGreaterThan(Date.now() - 10_000);
    // Cached: an immediate second answer reuses the states (same checkedAt: no new check) and does not wait for
    // the hung endpoint's timeout.
    const cached = await health();
    expect(cached.ms).toBeLessThan(TIMEOUT_S * 1000);
    expect(cached.body.sinks).toEqual(first.body.sinks);
    expect(await sinkUp('archive')).toBe(1);
    expect(await sinkUp('hung')).toBe(0);
  }, 30000);

  it('the S3 server stopped: the sink is reported in error with the reason within the timeout, ok again once back', async () => {
    await s3!.stop();
    try {
      await sleep(INTERVAL_S * 1000 + 100);
      const down = await health();
      expect(down.ms).toBeLessThan(TIMEOUT_S * 1000 + 1000);
      expect(down.status).toBe(200);
      expect(down.body).toMatchObject({ healthy: true, state: 'degraded' });
      const archive = (down.body.sinks as Array<Record<string, unknown>>)[0];
      expect(archive).toMatchObject({ name: 'archive', status: 'error' });
      expect(String(archive?.reason)).toMatch(/^bucket 'health-api' is not usable: .*ECONNREFUSED/);
      expect(await sinkUp('archive')).toBe(0);
    } finally {
      await s3!.restart();
    }
    await sleep(INTERVAL_S * 1000 + 100);
    const back = await health();
    expect((back.body.sinks as Array<Record<string, unknown>>)[0]).toMatchObject({
      name: 'archive',
      status: 'ok',
    });
    expect(await sinkUp('archive')).toBe(1);
  }, 30000);

  it('by default /health names no reason; the API logs it once per change instead', async () => {
    const logger = new RecordingLogger();
    const quiet = await ApiUnderTest.start(
      apiConfigObject(world, certs, {
        health: { sink_check_timeout_seconds: TIMEOUT_S, sink_check_interval_seconds: 0 },
        sinks: { hung: s3!.sinkConfig({ endpoint: `http://127.0.0.1:${hungPort}` }) },
      }),
      { logger },
    );
    try {
      const reason = `no answer within ${TIMEOUT_S * 1000} ms (check aborted)`;
      for (let i = 0; i < 2; i++) {
        const res = await call(`${quiet.url}/health`);
        expect(res.status).toBe(200);
        expect(json(res)).toMatchObject({ state: 'degraded', sinks: [{ name: 'hung', status: 'error' }] });
        expect(res.body.toString()).not.toContain('127.0.0.1');
        expect(res.body.toString()).not.toContain('reason');
      }
      // Checked twice (no caching), the same reason both times: one warning.
      const warnings = logger.entries('SinkHealth');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({
        level: 'warn',
        message: `sink 'hung' (s3) failed its check: ${reason}`,
      });
    } finally {
      await quiet.close();
    }
  }, 30000);
});
