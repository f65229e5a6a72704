/**
 * SinkHealth against real destinations: the S3 sink's check() on a real s3rver (loopback, temp dir) that is up,
 * stopped, or asked for a bucket it does not have, and on a TCP server that accepts and never answers (a hung S3
 * endpoint); the metrics sink, whose check always succeeds. States are cached, checks bounded by the timeout.
 */
import { createServer, type Server, type Socket } from 'node:net';

import { MetricsSinkFactory, S3SinkFactory, s3SinkConfigSchema, SinkHealth, SinkRegistry } from '@pcap/sinks';
import type { SinkConfig, SinkState } from '@pcap/sinks';

import { S3TestServer } from '../../../test/support/s3-server';

const TIMEOUT_MS = 800;

describe('SinkHealth: configured sinks checked with a timeout, cached', () => {
  let s3: S3TestServer;
  let hung: Server;
  let hungPort: number;
  const hungSockets = new Set<Socket>();
  const registry = new SinkRegistry([new S3SinkFactory(), new MetricsSinkFactory()]);

  beforeAll(async () => {
    s3 = await S3TestServer.start('health-captures');
    // Reads the request (so it sees the client close) and never answers.
    hung = createServer((socket) => {
      socket.resume();
      hungSockets.add(socket);
      socket.once('close', () => hungSockets.delete(socket));
    });
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    hungPort = (hung.address() as { port: number }).port;
  });

  afterAll(async () => {
    await s3?.destroy();
    for (const socket of hungSockets) socket.destroy();
    await new Promise<void>((resolve) => hung.close(() => resolve()));
  });

  const s3Sink = (name: string, overrides: Record<string, unknown> = {}): SinkConfig => ({
    ...s3SinkConfigSchema.parse(s3.sinkConfig(overrides)),
    name,
  });

  it('reports ok for a reachable bucket, caches the state, and reports the reason once the server is gone', async () => {
    const seen: SinkState[] = [];
    const changes: [string, string | undefined, string | undefined][] = [];
    const health = new SinkHealth(registry, [s3Sink('archive'), { kind: 'metrics', name: 'prometheus' }], {
      timeoutMs: TIMEOUT_MS,
      cacheMs: 400,
      onState: (s) => seen.push(s),
      onChange: (s, previous) => changes.push([s.name, previous?.status, s.status]),
    });
    const first = await health.states();
    expect(first.map((s) => [s.name, s.kind, s.status, s.reason])).toEqual([
      ['archive', 's3', 'ok', undefined],
      ['prometheus', 'metrics', 'ok', undefined],
    ]);
    // Within the cache interval: the same states, no new check.
    const again = await health.states();
    expect(again[0]).toBe(first[0]);
    expect(seen).toHaveLength(2);

    await s3.stop();
    try {
      // Still cached: the stop is not seen before the interval ends.
      expect((await health.states())[0]?.status).toBe('ok');
      await new Promise((resolve) => setTimeout(resolve, 450));
      const began = Date.now();
      const [archive] = await health.states();
      expect(Date.now() - began).toBeLessThan(TIMEOUT_MS);
      expect(archive?.status).toBe('error');
      expect(archive?.reason).toMatch(/^bucket 'health-captures' is not usable: .*ECONNREFUSED/);
      expect(archive?.checkedAt.getTime()).toBeGreaterThan(first[0]!.checkedAt.getTime());
      expect(seen.at(-1)).toBe(archive);
      // Checked again while still down: same status and reason, so no second change.
      await new Promise((resolve) => setTimeout(resolve, 450));
      expect((await health.states())[0]?.status).toBe('error');
    } finally {
      await s3.restart();
    }
    await new Promise((resolve) => setTimeout(resolve, 450));
    expect((await health.states())[0]?.status).toBe('ok');
    // A first ok is no change; ok → error and error → ok are, once each.
    expect(changes).toEqual([
      ['archive', 'ok', 'error'],
      ['archive', 'error', 'ok'],
    ]);
  }, 30000);

  it('a hung endpoint: the check is aborted at the timeout and reported; callers meanwhile share that one check', async () => {
    const health = new SinkHealth(
      registry,
      [s3Sink('hung', { endpoint: `http://127.0.0.1:${hungPort}` }), s3Sink('archive')],
      { timeoutMs: TIMEOUT_MS, cacheMs: 60_000 },
    );
    const began = Date.now();
    const [a, b] = await Promise.all([health.states(), health.states()]);
    const took = Date.now() - began;
    expect(took).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(took).toBeLessThan(TIMEOUT_MS + 1000);
    expect(a[0]).toBe(b[0]);
    expect(a[0]).toMatchObject({
      name: 'hung',
      status: 'error',
      reason: `no answer within ${TIMEOUT_MS} ms (check aborted)`,
    });
    // The other sink is not held back by the hung one.
    expect(a[1]).toMatchObject({ name: 'archive', status: 'ok' });
    expect(a[1]!.durationMs).toBeLessThan(TIMEOUT_MS);
    // The aborted request let go of its connection.
    for (let i = 0; i < 50 && hungSockets.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(hungSockets.size).toBe(0);
  }, 30000);

  it('a bucket the server does not have: the S3 error name and status are the reason', async () => {
    const changes: (SinkState | undefined)[] = [];
    const health = new SinkHealth(registry, [s3Sink('missing', { bucket: 'no-such-bucket' })], {
      timeoutMs: TIMEOUT_MS,
      cacheMs: 1000,
      onChange: (s, previous) => changes.push(s, previous),
    });
    const [missing] = await health.states();
    // A first state that is an error counts as a change (it is logged).
    expect(changes).toEqual([missing, undefined]);
    expect(missing).toMatchObject({
      status: 'error',
      reason: "bucket 'no-such-bucket' is not usable: NotFound (HTTP 404)",
    });
  }, 30000);
});
