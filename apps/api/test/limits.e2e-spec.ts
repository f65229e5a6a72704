/**
 * Limits, backpressure, audit and drain through real parts: one simulated Diego cell (real runc containers), a real
 * agent as a child process on 127.0.0.4, the real API in-process with a recording JSON logger, and the UAA / CC
 * doubles. App `busy-app` has two instances on the cell. Every file is checked with tshark.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import { BoundedPacketQueue, type ControlMessage, readPcapng } from '@pcap/capture';

import {
  AgentProcess,
  ApiProcess,
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
import { tsharkFields } from '../../../test/support/tcpdump';
import { ApiUnderTest, RecordingLogger } from './api-under-test';

const APP = { guid: '1cb006ee-0000-4000-8000-00000000c101', name: 'busy-app' };
const HOST = '127.0.0.4';
const HIGH = 1 << 20;
const LOW = HIGH / 2;

interface Parsed {
  readonly messages: ControlMessage[];
  /** Sums over the statistics blocks: isb_usrdeliv (packets that reached the file) and isb_osdrop (discards). */
  readonly usrDeliv: bigint;
  readonly osDrop: bigint;
  readonly statistics: number;
  readonly comments: string[];
}

async function parse(file: Buffer): Promise<Parsed> {
  const messages: ControlMessage[] = [];
  let usrDeliv = 0n;
  let osDrop = 0n;
  let statistics = 0;
  const comments: string[] = [];
  for await (const e of readPcapng(Readable.from([file]))) {
    if (e.type === 'message') messages.push(e.message);
    if (e.type === 'statistics') {
      statistics++;
      usrDeliv += e.usrDeliv ?? 0n;
      osDrop += e.osDrop ?? 0n;
      comments.push(...e.comments);
    }
  }
  return { messages, usrDeliv, osDrop, statistics, comments };
}

describe('pcap API limits, backpressure, audit and drain (one cell, real agent)', () => {
  let world: CfWorld | undefined;
  let certs: ApiTestCerts | undefined;
  let cell: DiegoCell | undefined;
  let agent: AgentProcess | undefined;
  let api: ApiUnderTest | undefined;
  let dir: string | undefined;
  let instances: CellContainer[];
  const logger = new RecordingLogger();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'api-limits-'));
    certs = ApiTestCerts.create();
    cell = await DiegoCell.create([{ appId: APP.guid }, { appId: APP.guid }]);
    instances = [...cell.containers];
    agent = await AgentProcess.start(certs, {
      host: HOST,
      cellName: 'cell-l',
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
    api = await ApiUnderTest.start(
      apiConfigObject(world, certs, {
        agents: { endpoints: { [HOST]: agent.endpoint } },
        limits: { concurrent_captures: 1, concurrent_captures_per_user: 1 },
        stream: { high_watermark_bytes: HIGH, low_watermark_bytes: LOW },
      }),
      { logger },
    );
  }, 180000);

  afterAll(async () => {
    await api?.close().catch(() => undefined);
    if (agent?.child.pid !== undefined && agent.child.exitCode === null) {
      try {
        process.kill(agent.child.pid, 'SIGCONT');
      } catch {
        // already gone
      }
    }
    await agent?.stop();
    await cell?.destroy();
    await world?.stop();
    certs?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60000);

  const token = (user: (typeof USERS)[keyof typeof USERS] = USERS.developer): string =>
    world!.uaa.mintUserToken(user);

  async function waitIdle(target: ApiUnderTest): Promise<void> {
    for (let i = 0; i < 150; i++) {
      if (json(await call(`${target.url}/health`)).activeCaptures === 0) return;
      await sleep(100);
    }
    throw new Error('captures still active after 15 s');
  }

  /** Starts a capture, runs `traffic` once the headers are in, reads the whole body (after `readAfter` if given). */
  async function capture(
    body: Record<string, unknown>,
    traffic: () => Promise<void>,
    options: { requestId?: string; readAfter?: () => Promise<void>; target?: { url: string } } = {},
  ): Promise<{ status: number; file: string; data: Buffer; parsed: Parsed }> {
    const res = await open(`${(options.target ?? api)!.url}/captures`, {
      method: 'POST',
      headers: {
        authorization: `bearer ${token()}`,
        'x-vcap-request-id': options.requestId ?? `limits-${Date.now()}`,
      },
      body,
    });
    const ended = new Promise<void>((resolve, reject) => res.once('end', resolve).once('error', reject));
    const chunks: Buffer[] = [];
    const read = (): void => {
      res.on('data', (c: Buffer) => chunks.push(c));
    };
    if (options.readAfter === undefined) read();
    try {
      await traffic();
      if (options.readAfter !== undefined) await options.readAfter();
    } finally {
      if (options.readAfter !== undefined) read();
    }
    await ended;
    const data = Buffer.concat(chunks);
    const file = join(dir!, `capture-${Date.now()}.pcapng`);
    writeFileSync(file, data);
    return { status: res.statusCode ?? 0, file, data, parsed: await parse(data) };
  }

  it('a slow client: bounded queue, CONGESTED in-band with counts, delivered + discarded = what the agent sent', async () => {
    let peakQueued = 0;
    let largestItem = 0;
    let offeredBytes = 0;
    const offer = BoundedPacketQueue.prototype.offer;
    const spy = jest.spyOn(BoundedPacketQueue.prototype, 'offer').mockImplementation(function (
      this: BoundedPacketQueue<unknown>,
      item: unknown,
    ): boolean {
      const before = this.queuedBytes;
      const accepted = offer.call(this, item);
      const after = this.queuedBytes;
      if (accepted) largestItem = Math.max(largestItem, after - before);
      peakQueued = Math.max(peakQueued, after);
      offeredBytes = this.counters.offeredBytes;
      return accepted;
    });
    try {
      const { status, file, parsed } = await capture(
        { app_guid: APP.guid, instances: [0], filter: 'udp port 7400', duration_seconds: 12 },
        // ~43 MB of frames: far more than the watermark plus what loopback socket buffers can hold.
        () => cell!.sendUdpTo(instances[0]!, { port: 7400, count: 30000, size: 1400, gapUs: 0 }),
        { readAfter: () => sleep(4000) },
      );
      expect(status).toBe(200);

      // Memory: the queue never held more than the high watermark (or one oversized run into an empty queue),
      // while far more than that was offered during the pause.
      expect(offeredBytes).toBeGreaterThan(4 * HIGH);
      expect(peakQueued).toBeLessThanOrEqual(Math.max(HIGH, largestItem));
      expect(largestItem).toBeLessThan(HIGH);

      const congested = parsed.messages.filter((m) => m.type === 'CONGESTED' && m.origin === 'api');
      const starts = congested.filter((m) => m.fields?.queuedBytes !== undefined);
      const ends = congested.filter((m) => m.fields?.discardedPackets !== undefined);
      expect(starts.length).toBeGreaterThan(0);
      expect(ends).toHaveLength(starts.length);
      for (const s of starts) expect(Number(s.fields!.queuedBytes)).toBeLessThanOrEqual(HIGH);
      const discarded = ends.reduce((n, m) => n + Number(m.fields!.discardedPackets), 0);
      expect(discarded).toBeGreaterThan(0);

      const delivered = tsharkFields(file, ['udp.dstport'], 'udp.dstport == 7400').length;
      expect(delivered).toBeGreaterThan(0);
      expect(parsed.statistics).toBe(1);
      // The ISB accounts for every packet: what reached the file, and the API's discards added to isb_osdrop.
      expect(parsed.usrDeliv).toBe(BigInt(delivered));
      expect(parsed.osDrop).toBeGreaterThanOrEqual(BigInt(discarded));
      expect(parsed.comments).toContain(`pcap-api discarded ${discarded} packets for a slow client`);
    } finally {
      spy.mockRestore();
    }
    await waitIdle(api!);
  }, 120000);

  it('over limits.concurrent_captures: 429 TOO_MANY_CAPTURES naming the global limit', async () => {
    const first = await open(`${api!.url}/captures`, {
      method: 'POST',
      headers: { authorization: `bearer ${token()}` },
      body: { app_guid: APP.guid, instances: [0], filter: 'udp port 7500' },
    });
    try {
      expect(first.statusCode).toBe(200);
      first.resume();
      const second = await call(`${api!.url}/captures`, {
        method: 'POST',
        headers: { authorization: `bearer ${token(USERS.developer2)}` },
        body: { app_guid: APP.guid, instances: [1] },
      });
      expect(second.status).toBe(429);
      const body = json(second);
      expect(body.code).toBe('TOO_MANY_CAPTURES');
      expect(String(body.message)).toMatch(/limits\.concurrent_captures \(1\)/);
      expect(String(body.message)).not.toContain('per_user');
    } finally {
      first.destroy();
    }
    await waitIdle(api!);
  }, 60000);

  it.each([
    { limit: 'max_packets', body: { max_packets: 10 }, text: /packet limit of 10/, packets: 10 },
    // 80-byte payloads are 122-byte frames: 8 fit in 1000 bytes.
    { limit: 'max_bytes', body: { max_bytes: 1000 }, text: /byte limit of 1000/, packets: 8 },
  ])(
    '$limit ends the capture with LIMIT_REACHED naming it; the file is valid',
    async ({ body, text, packets }) => {
      const startedAt = Date.now();
      const { status, file, parsed } = await capture(
        { app_guid: APP.guid, instances: [0], filter: 'udp port 7510', duration_seconds: 60, ...body },
        () => cell!.sendUdpTo(instances[0]!, { port: 7510, count: 40, size: 80, gapUs: 500 }),
      );
      expect(status).toBe(200);
      expect(Date.now() - startedAt).toBeLessThan(30000);
      const limits = parsed.messages.filter((m) => m.type === 'LIMIT_REACHED');
      expect(limits.some((m) => text.test(m.message))).toBe(true);
      expect(tsharkFields(file, ['udp.dstport'], 'udp')).toHaveLength(packets);
      await waitIdle(api!);
    },
    60000,
  );

  it('duration_seconds ends the capture with LIMIT_REACHED naming the duration; the file is valid', async () => {
    const startedAt = Date.now();
    const { status, file, parsed } = await capture(
      { app_guid: APP.guid, instances: [0], filter: 'udp port 7520', duration_seconds: 3 },
      () => cell!.sendUdpTo(instances[0]!, { port: 7520, count: 5, size: 80 }),
    );
    const took = Date.now() - startedAt;
    expect(status).toBe(200);
    expect(took).toBeGreaterThanOrEqual(2500);
    expect(took).toBeLessThan(15000);
    const limits = parsed.messages.filter((m) => m.type === 'LIMIT_REACHED');
    expect(limits.some((m) => /duration limit of 3s/.test(m.message))).toBe(true);
    expect(tsharkFields(file, ['udp.dstport'], 'udp')).toHaveLength(5);
    await waitIdle(api!);
  }, 60000);

  it('audit: one capture.start and one capture.end event with the details; the token is never logged', async () => {
    const requestId = `audit-${Date.now()}`;
    const tok = token();
    const badToken = `${tok.slice(0, -4)}AAAA`;
    const refused = await call(`${api!.url}/captures`, {
      method: 'POST',
      headers: { authorization: `bearer ${badToken}`, 'x-vcap-request-id': `${requestId}-bad` },
      body: { app_guid: APP.guid },
    });
    expect(refused.status).toBe(401);

    const res = await open(`${api!.url}/captures`, {
      method: 'POST',
      headers: { authorization: `bearer ${tok}`, 'x-vcap-request-id': requestId },
      body: { app_guid: APP.guid, filter: 'udp port 7600', duration_seconds: 4 },
    });
    expect(res.statusCode).toBe(200);
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise<void>((resolve, reject) => res.once('end', resolve).once('error', reject));
    for (const c of instances) await cell!.sendUdpTo(c, { port: 7600, count: 20, size: 80, gapUs: 500 });
    await ended;
    await waitIdle(api!);
    const file = join(dir!, 'audit.pcapng');
    writeFileSync(file, Buffer.concat(chunks));
    const written = tsharkFields(file, ['udp.dstport'], 'udp').length;
    expect(written).toBe(40);

    const events = logger
      .entries('CaptureAudit')
      .map((e) => e.message as Record<string, unknown>)
      .filter((m) => m.request_id === requestId);
    expect(events.map((e) => e.event)).toEqual(['capture.start', 'capture.end']);
    for (const e of events) {
      expect(e).toMatchObject({
        user: USERS.developer.userName,
        user_id: USERS.developer.id,
        app: APP.name,
        app_guid: APP.guid,
        instances: [0, 1],
        filter: 'udp port 7600',
      });
      expect(typeof e.capture_id).toBe('string');
    }
    expect(events[1]).toMatchObject({
      outcome: 'completed',
      packets: written,
      discarded: 0,
      unavailable: [],
    });
    expect(Number(events[1]!.bytes)).toBeGreaterThan(written * 122);

    // Every line about this capture carries the request id; no line carries a token (or its signature).
    const captureId = String(events[0]!.capture_id);
    const about = logger.lines.filter((l) => l.includes(captureId));
    expect(about.length).toBeGreaterThan(2);
    for (const l of about) expect(l).toContain(requestId);
    const secrets = [tok, badToken, tok.split('.')[2]!, badToken.split('.')[2]!];
    for (const l of logger.lines) for (const s of secrets) expect(l).not.toContain(s);
  }, 60000);

  it('SIGTERM to the API process: health 503 draining, new captures 503 DRAINING, the running capture ends with its data, exit 0', async () => {
    const draining = await ApiProcess.start(
      apiConfigObject(world!, certs!, {
        agents: { endpoints: { [HOST]: agent!.endpoint } },
        drain_timeout_seconds: 20,
      }),
    );
    const agentPid = agent!.child.pid!;
    let signalledAt = 0;
    let stopped = false;
    try {
      const result = await capture(
        { app_guid: APP.guid, instances: [0], filter: 'udp port 7700', duration_seconds: 120 },
        async () => {
          await cell!.sendUdpTo(instances[0]!, { port: 7700, count: 20, size: 80, gapUs: 500 });
          await sleep(1500);
          // A stopped agent holds the drain open, so the draining state can be observed without a race.
          process.kill(agentPid, 'SIGSTOP');
          stopped = true;
          signalledAt = Date.now();
          process.kill(draining.pid, 'SIGTERM');
          let health = await call(`${draining.url}/health`);
          for (let i = 0; i < 50 && health.status !== 503; i++) {
            await sleep(100);
            health = await call(`${draining.url}/health`);
          }
          expect(health.status).toBe(503);
          expect(json(health)).toMatchObject({ healthy: false, state: 'draining', activeCaptures: 1 });
          const refused = await call(`${draining.url}/captures`, {
            method: 'POST',
            headers: { authorization: `bearer ${token(USERS.developer2)}` },
            body: { app_guid: APP.guid },
          });
          expect(refused.status).toBe(503);
          expect(json(refused).code).toBe('DRAINING');
          process.kill(agentPid, 'SIGCONT');
          stopped = false;
        },
        { target: draining },
      );
      const exit = await draining.exited;
      expect(exit).toEqual({ code: 0, signal: null });
      expect(Date.now() - signalledAt).toBeLessThan(20000);
      expect(result.status).toBe(200);
      expect(
        result.parsed.messages.some((m) => m.type === 'CAPTURE_STOPPED' && /shutting down/.test(m.message)),
      ).toBe(true);
      expect(result.parsed.statistics).toBe(1);
      expect(tsharkFields(result.file, ['udp.dstport'], 'udp')).toHaveLength(20);
      expect(draining.output()).toMatch(/SIGTERM: draining/);
    } finally {
      if (stopped) process.kill(agentPid, 'SIGCONT');
      await draining.stop();
    }
  }, 90000);
});
