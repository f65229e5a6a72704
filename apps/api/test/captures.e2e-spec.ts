/**
 * End to end through real parts: two simulated Diego cells (real runc containers in their own namespaces), a real
 * agent per cell as a child process (HTTP/2 + mTLS on 127.0.0.2 / 127.0.0.3), the real API, and the UAA / CC doubles
 * reporting those agents as the cells' `host`. App `web-app` has three instances spread over both cells; `other-app`
 * sits beside instance 0. Every file is checked with tshark.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { type ControlMessage, readPcapng } from '@pcap/capture';

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
import { epochTextToNs, tsharkFields } from '../../../test/support/tcpdump';
import { ApiUnderTest } from './api-under-test';

const APP = { guid: '1cb006ee-0000-4000-8000-00000000c001', name: 'web-app' };
const OTHER = { guid: '1cb006ee-0000-4000-8000-00000000c002', name: 'other-app' };
const HOST_A = '127.0.0.2';
const HOST_B = '127.0.0.3';
const PACKETS = 25;

interface Parsed {
  readonly interfaces: Array<{ name?: string; description?: string }>;
  readonly messages: ControlMessage[];
}

async function parse(file: Buffer): Promise<Parsed> {
  const interfaces: Parsed['interfaces'] = [];
  const messages: ControlMessage[] = [];
  for await (const e of readPcapng(Readable.from([file]))) {
    if (e.type === 'interface') interfaces.push({ name: e.name, description: e.description });
    if (e.type === 'message') messages.push(e.message);
  }
  return { interfaces, messages };
}

describe('pcap API end to end: two cells, real agents, merged capture', () => {
  let world: CfWorld;
  let certs: ApiTestCerts;
  let cellA: DiegoCell | undefined;
  let cellB: DiegoCell | undefined;
  let agentA: AgentProcess | undefined;
  let agentB: AgentProcess | undefined;
  let api: ApiUnderTest | undefined;
  let dir: string;
  /** Instance index → container. */
  let instances: CellContainer[];
  let other: CellContainer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'api-e2e-'));
    certs = ApiTestCerts.create();
    cellA = await DiegoCell.create([{ appId: APP.guid }, { appId: OTHER.guid }]);
    cellB = await DiegoCell.create([{ appId: APP.guid }, { appId: APP.guid }]);
    const [a0, o0] = cellA.containers as [CellContainer, CellContainer];
    const [b0, b1] = cellB.containers as [CellContainer, CellContainer];
    instances = [a0, b0, b1];
    other = o0;
    [agentA, agentB] = await Promise.all([
      AgentProcess.start(certs, {
        host: HOST_A,
        cellName: 'cell-a',
        storeFile: cellA.storeFile,
        runcRoot: cellA.runcRoot,
      }),
      AgentProcess.start(certs, {
        host: HOST_B,
        cellName: 'cell-b',
        storeFile: cellB.storeFile,
        runcRoot: cellB.runcRoot,
      }),
    ]);
    const hostOf = (i: number): string => (i === 0 ? HOST_A : HOST_B);
    world = await startCfWorld(
      baseModel([
        {
          ...APP,
          spaceGuid: SPACE_DEV.guid,
          processes: [
            {
              type: 'web',
              instances: instances.map((c, i) => ({
                state: 'RUNNING' as const,
                host: hostOf(i),
                instanceGuid: c.handle,
                internalIp: c.ip,
              })),
            },
          ],
        },
        {
          ...OTHER,
          spaceGuid: SPACE_DEV.guid,
          processes: [
            {
              type: 'web',
              instances: [{ state: 'RUNNING', host: HOST_A, instanceGuid: o0.handle, internalIp: o0.ip }],
            },
          ],
        },
      ]),
    );
    api = await ApiUnderTest.start(
      apiConfigObject(world, certs, {
        agents: { endpoints: { [HOST_A]: agentA.endpoint, [HOST_B]: agentB.endpoint } },
        limits: { concurrent_captures_per_user: 1 },
      }),
    );
  }, 180000);

  afterAll(async () => {
    await api?.close().catch(() => undefined);
    await agentA?.stop();
    await agentB?.stop();
    await cellA?.destroy();
    await cellB?.destroy();
    await world?.stop();
    certs?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60000);

  const token = (): string => world.uaa.mintUserToken(USERS.developer);
  const cellOf = (c: CellContainer): DiegoCell => (c === instances[0] || c === other ? cellA! : cellB!);

  /** Starts a capture, runs `traffic` once the answer's headers are in, and collects the whole body. */
  async function captureWith(
    body: Record<string, unknown>,
    traffic: () => Promise<void>,
  ): Promise<{ status: number; headers: Record<string, unknown>; file: string; data: Buffer }> {
    const res = await open(`${api!.url}/captures`, {
      method: 'POST',
      headers: { authorization: `bearer ${token()}`, 'x-vcap-request-id': `e2e-${Date.now()}` },
      body,
    });
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise<void>((resolve, reject) => res.once('end', resolve).once('error', reject));
    await traffic();
    await ended;
    const data = Buffer.concat(chunks);
    const file = join(dir, `capture-${Date.now()}.pcapng`);
    writeFileSync(file, data);
    return { status: res.statusCode ?? 0, headers: res.headers, file, data };
  }

  async function sendToAll(port: (index: number) => number): Promise<void> {
    for (const [i, c] of instances.entries()) {
      await cellOf(c).sendUdpTo(c, { port: port(i), count: PACKETS, size: 80, gapUs: 500 });
    }
    await cellA!.sendUdpTo(other, { port: 7999, count: PACKETS, size: 80 });
  }

  it('captures all three instances into one pcapng: one interface each, only its own traffic, in time order', async () => {
    const { status, headers, file, data } = await captureWith(
      { app_guid: APP.guid, filter: 'udp', duration_seconds: 8 },
      () => sendToAll((i) => 7000 + i),
    );
    expect(status).toBe(200);
    expect(headers['content-type']).toBe('application/x-pcapng');

    const { interfaces } = await parse(data);
    expect(interfaces).toHaveLength(3);
    for (const [i, c] of instances.entries()) {
      const iface = interfaces.find((f) => f.description?.includes(`index=${i} `));
      expect(iface).toBeDefined();
      const d = iface!.description!;
      for (const part of [
        'org=acme',
        'space=dev',
        'app=web-app',
        'process=web',
        `instance_guid=${c.handle}`,
      ]) {
        expect(d).toContain(part);
      }
      expect(d).toContain(i === 0 ? 'cell=cell-a' : 'cell=cell-b');
    }

    const rows = tsharkFields(
      file,
      ['frame.interface_id', 'frame.interface_description', 'udp.dstport', 'ip.dst', 'frame.time_epoch'],
      'udp',
    );
    expect(rows).toHaveLength(3 * PACKETS);
    for (const [i, c] of instances.entries()) {
      const mine = rows.filter((r) => r[1]!.includes(`index=${i} `));
      expect(mine).toHaveLength(PACKETS);
      expect(new Set(mine.map((r) => `${r[2]} ${r[3]}`))).toEqual(new Set([`${7000 + i} ${c.ip}`]));
    }
    expect(rows.some((r) => r[2] === '7999')).toBe(false);
    const times = rows.map((r) => epochTextToNs(r[4]!));
    for (let k = 1; k < times.length; k++) expect(times[k]! >= times[k - 1]!).toBe(true);
  }, 120000);

  it('captures only the selected instances', async () => {
    const { status, file, data } = await captureWith(
      { app_guid: APP.guid, instances: [0, 2], filter: 'udp', duration_seconds: 7 },
      () => sendToAll((i) => 7100 + i),
    );
    expect(status).toBe(200);
    const { interfaces } = await parse(data);
    expect(interfaces).toHaveLength(2);
    const rows = tsharkFields(file, ['udp.dstport'], 'udp');
    expect(rows.map((r) => r[0]).sort()).toEqual([
      ...Array<string>(PACKETS).fill('7100'),
      ...Array<string>(PACKETS).fill('7102'),
    ]);
  }, 120000);

  it('the seed endpoint streams classic pcap of the chosen index', async () => {
    const res = await open(`${api!.url}/capture?appid=${APP.guid}&index=1&filter=udp`, {
      headers: { authorization: `bearer ${token()}` },
    });
    expect(res.statusCode).toBe(200);
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    await sendToAll((i) => 7200 + i);
    await new Promise((r) => setTimeout(r, 1500));
    res.destroy();
    const data = Buffer.concat(chunks);
    expect(data.readUInt32LE(0)).toBe(0xa1b2c3d4);
    const file = join(dir, 'seed.pcap');
    // A client that hangs up mid-stream may cut the last record: keep whole records only.
    writeFileSync(file, wholeRecords(data));
    const rows = tsharkFields(file, ['udp.dstport'], 'udp');
    expect(new Set(rows.map((r) => r[0]))).toEqual(new Set(['7201']));
    expect(rows.length).toBeGreaterThan(0);
  }, 120000);

  it('refuses a second concurrent capture of the same user with 429 naming the limit; closing stops the agents', async () => {
    const first = await open(`${api!.url}/captures`, {
      method: 'POST',
      headers: { authorization: `bearer ${token()}` },
      body: { app_guid: APP.guid, filter: 'udp' },
    });
    expect(first.statusCode).toBe(200);
    first.resume();
    const second = await call(`${api!.url}/captures`, {
      method: 'POST',
      headers: { authorization: `bearer ${token()}` },
      body: { app_guid: APP.guid },
    });
    expect(second.status).toBe(429);
    expect(String(json(second).message)).toContain('limits.concurrent_captures_per_user');
    const other = await call(`${api!.url}/captures`, {
      method: 'POST',
      headers: { authorization: `bearer ${world.uaa.mintUserToken(USERS.developer2)}` },
      body: { app_guid: APP.guid, instances: [0], duration_seconds: 1 },
    });
    expect(other.status).toBe(200);
    first.destroy();
    // The agents see the API go away and end their captures.
    for (let i = 0; i < 100; i++) {
      const health = json(await call(`${api!.url}/health`));
      if (health.activeCaptures === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(json(await call(`${api!.url}/health`)).activeCaptures).toBe(0);
  }, 120000);

  it('an explicit stop (DELETE /captures/:id) by its owner drains every agent and ends the stream with statistics', async () => {
    const res = await open(`${api!.url}/captures`, {
      method: 'POST',
      headers: { authorization: `bearer ${token()}` },
      body: { app_guid: APP.guid, filter: 'udp' },
    });
    expect(res.statusCode).toBe(200);
    const id = String(res.headers['x-capture-id']);
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise<void>((resolve, reject) => res.once('end', resolve).once('error', reject));
    await sendToAll((i) => 7400 + i);

    const notMine = await call(`${api!.url}/captures/${id}`, {
      method: 'DELETE',
      headers: { authorization: `bearer ${world.uaa.mintUserToken(USERS.developer2)}` },
    });
    expect(notMine.status).toBe(404);
    expect(json(notMine).code).toBe('CAPTURE_NOT_FOUND');
    const stopped = await call(`${api!.url}/captures/${id}`, {
      method: 'DELETE',
      headers: { authorization: `bearer ${token()}` },
    });
    expect(stopped.status).toBe(202);
    expect(json(stopped)).toEqual({ id, status: 'stopping' });
    await ended;

    const data = Buffer.concat(chunks);
    const file = join(dir, 'stopped.pcapng');
    writeFileSync(file, data);
    const { messages } = await parse(data);
    expect(messages.some((m) => m.type === 'CAPTURE_STOPPED' && m.origin === 'api')).toBe(true);
    // everything sent before the stop arrived: the agents drained instead of being cut
    const ports = tsharkFields(file, ['udp.dstport'], 'udp').map((r) => r[0]);
    for (const i of [0, 1, 2]) expect(ports.filter((p) => p === String(7400 + i))).toHaveLength(PACKETS);
    const isbs: number[] = [];
    for await (const e of readPcapng(Readable.from([data])))
      if (e.type === 'statistics') isbs.push(e.interfaceId);
    expect(isbs.sort()).toEqual([0, 1, 2]);
    const again = await call(`${api!.url}/captures/${id}`, {
      method: 'DELETE',
      headers: { authorization: `bearer ${token()}` },
    });
    expect(again.status).toBe(404);
  }, 120000);

  it('an agent killed mid-capture: INSTANCE_UNAVAILABLE in-band, the others go on, the file stays valid', async () => {
    const { status, file, data } = await captureWith(
      { app_guid: APP.guid, filter: 'udp', duration_seconds: 8 },
      async () => {
        await sendToAll((i) => 7300 + i);
        await agentB!.kill();
        await cellA!.sendUdpTo(instances[0]!, { port: 7310, count: PACKETS, size: 80 });
      },
    );
    expect(status).toBe(200);
    const { messages } = await parse(data);
    const lost = messages.filter((m) => m.type === 'INSTANCE_UNAVAILABLE');
    expect(lost.map((m) => m.fields?.instanceIndex).sort()).toEqual([1, 2]);
    const rows = tsharkFields(file, ['udp.dstport'], 'udp');
    const ports = rows.map((r) => r[0]);
    expect(ports.filter((p) => p === '7300')).toHaveLength(PACKETS);
    expect(ports.filter((p) => p === '7310')).toHaveLength(PACKETS);
  }, 120000);
});

/** Classic pcap cut after its last whole record. */
function wholeRecords(data: Buffer): Buffer {
  let off = 24;
  while (off + 16 <= data.length) {
    const next = off + 16 + data.readUInt32LE(off + 8);
    if (next > data.length) break;
    off = next;
  }
  return data.subarray(0, off);
}
