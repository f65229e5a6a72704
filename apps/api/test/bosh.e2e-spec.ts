/**
 * BOSH mode end to end: a BOSH director double (its own UAA double, as a director has), two real agents as
 * processes standing for the VMs of instance group `router` (127.0.0.5 and 127.0.0.6), the real API. A capture of
 * the group's `lo` merges one interface per VM; a VM-less instance becomes INSTANCE_UNAVAILABLE; tokens of another
 * UAA or without a BOSH scope are refused; unknown deployments and groups are named in the 404.
 */
import { randomUUID } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { type ControlMessage, readPcapng } from '@pcap/capture';

import { BoshDirectorDouble } from '../../../test/support/bosh-director-double';
import {
  AgentProcess,
  apiConfigObject,
  ApiTestCerts,
  baseModel,
  call,
  type CfWorld,
  json,
  open,
  startCfWorld,
  USERS,
} from '../../../test/support/api-harness';
import { tsharkFields } from '../../../test/support/tcpdump';
import { UaaDouble } from '../../../test/support/uaa-double';
import { ApiUnderTest } from './api-under-test';

const VM_A = '127.0.0.5';
const VM_B = '127.0.0.6';
const ROUTER_0 = randomUUID();
const ROUTER_1 = randomUUID();
const ROUTER_2 = randomUUID();
const OPERATOR = { id: 'bosh-op', userName: 'operator', scopes: ['openid', 'bosh.admin'] };
const READER = { id: 'bosh-reader', userName: 'reader', scopes: ['openid', 'bosh.teams.x.admin'] };

/** `count` UDP datagrams to 127.0.0.1:`port` (loopback, nobody listens). */
async function sendUdp(port: number, count: number): Promise<void> {
  const socket = createSocket('udp4');
  for (let i = 0; i < count; i++) {
    await new Promise<void>((resolve, reject) =>
      socket.send(Buffer.alloc(32, i), port, '127.0.0.1', (err) => (err ? reject(err) : resolve())),
    );
  }
  socket.close();
}

describe('pcap API in BOSH mode: VMs of a deployment through their agents', () => {
  let dir: string;
  let certs: ApiTestCerts;
  let world: CfWorld;
  let boshUaa: UaaDouble;
  let director: BoshDirectorDouble;
  let agents: AgentProcess[] = [];
  let api: ApiUnderTest | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'api-bosh-'));
    writeFileSync(join(dir, 'store.json'), '{}');
    certs = ApiTestCerts.create();
    world = await startCfWorld(baseModel([]));
    boshUaa = await UaaDouble.start({ users: [OPERATOR, READER] });
    director = await BoshDirectorDouble.start({
      uaa: boshUaa,
      deployments: {
        cf: [
          { job: 'router', id: ROUTER_0, index: 0, az: 'z1', ips: [VM_A] },
          { job: 'router', id: ROUTER_1, index: 1, az: 'z2', ips: [VM_B] },
          { job: 'router', id: ROUTER_2, index: 2, az: 'z3', ips: [] },
          { job: 'nats', id: randomUUID(), index: 0, ips: ['127.0.0.7'] },
        ],
      },
    });
    agents = await Promise.all(
      [VM_A, VM_B].map((host, i) =>
        AgentProcess.start(certs, {
          host,
          cellName: `router-${i}`,
          storeFile: join(dir, 'store.json'),
          runcRoot: join(dir, 'runc'),
        }),
      ),
    );
    api = await ApiUnderTest.start(
      apiConfigObject(world, certs, {
        agents: { endpoints: Object.fromEntries(agents.map((a) => [a.host, a.endpoint])) },
        bosh: { director: { url: director.url } },
      }),
    );
  }, 120000);

  afterAll(async () => {
    await api?.close().catch(() => undefined);
    await Promise.all(agents.map((a) => a.stop()));
    await director?.stop();
    await boshUaa?.stop();
    await world?.stop();
    certs?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60000);

  const boshToken = (user = OPERATOR): string => boshUaa.mintUserToken(user);

  it('captures lo of every VM of the group into one pcapng, one interface per VM, until stopped', async () => {
    const res = await open(`${api!.url}/bosh/captures`, {
      method: 'POST',
      headers: { authorization: `bearer ${boshToken()}` },
      body: {
        deployment: 'cf',
        groups: ['router'],
        device: 'lo',
        filter: 'udp port 7650',
        duration_seconds: 30,
      },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-pcapng');
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise<void>((resolve, reject) => res.once('end', resolve).once('error', reject));
    await new Promise((r) => setTimeout(r, 500)); // both agents have opened their capture
    await sendUdp(7650, 12);
    await new Promise((r) => setTimeout(r, 300));
    const stop = await call(`${api!.url}/bosh/captures/${String(res.headers['x-capture-id'])}`, {
      method: 'DELETE',
      headers: { authorization: `bearer ${boshToken()}` },
    });
    expect(stop.status).toBe(202);
    await ended;

    const data = Buffer.concat(chunks);
    const file = join(dir, 'bosh.pcapng');
    writeFileSync(file, data);
    const descriptions: string[] = [];
    const messages: ControlMessage[] = [];
    for await (const e of readPcapng(Readable.from([data]))) {
      if (e.type === 'interface') descriptions.push(e.description ?? '');
      if (e.type === 'message') messages.push(e.message);
    }
    expect(descriptions).toHaveLength(2);
    for (const [id, vm, az] of [
      [ROUTER_0, VM_A, 'z1'],
      [ROUTER_1, VM_B, 'z2'],
    ]) {
      const d = descriptions.find((x) => x.includes(`id=${id}`));
      expect(d).toBeDefined();
      for (const part of [
        'deployment=cf',
        'instance_group=router',
        `az=${az}`,
        `vm=${vm}`,
        'host',
        'device=lo',
      ]) {
        expect(d).toContain(part);
      }
    }
    // each VM's agent saw the 12 datagrams on its own lo
    const rows = tsharkFields(file, ['frame.interface_id', 'udp.dstport'], 'udp');
    expect(rows.filter((r) => r[0] === '0' && r[1] === '7650')).toHaveLength(12);
    expect(rows.filter((r) => r[0] === '1' && r[1] === '7650')).toHaveLength(12);
    const missing = messages.filter((m) => m.type === 'INSTANCE_UNAVAILABLE');
    expect(missing).toHaveLength(1);
    expect(missing[0]!.message).toContain(`router/${ROUTER_2}`);
    expect(missing[0]!.message).toContain('has no VM');
    expect(missing[0]!.fields).toMatchObject({ instanceId: ROUTER_2, instanceGroup: 'router' });
  }, 60000);

  it('captures only the named instances of the group', async () => {
    const res = await open(`${api!.url}/bosh/captures`, {
      method: 'POST',
      headers: { authorization: `bearer ${boshToken()}` },
      body: {
        deployment: 'cf',
        groups: ['router'],
        instances: [ROUTER_1],
        device: 'lo',
        duration_seconds: 1,
      },
    });
    expect(res.statusCode).toBe(200);
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    await new Promise<void>((resolve, reject) => res.once('end', resolve).once('error', reject));
    const descriptions: string[] = [];
    for await (const e of readPcapng(Readable.from([Buffer.concat(chunks)]))) {
      if (e.type === 'interface') descriptions.push(e.description ?? '');
    }
    expect(descriptions).toHaveLength(1);
    expect(descriptions[0]).toContain(`id=${ROUTER_1}`);
  }, 60000);

  it.each([
    ['a Cloud Foundry token (another UAA)', () => world.uaa.mintUserToken(USERS.developer), 401],
    ['a BOSH token without a bosh.admin scope', () => boshUaa.mintUserToken(READER), 401],
    ['no token', () => '', 401],
  ])('refuses %s', async (_what, token, status) => {
    const res = await call(`${api!.url}/bosh/captures`, {
      method: 'POST',
      headers: token() === '' ? {} : { authorization: `bearer ${token()}` },
      body: { deployment: 'cf', groups: ['router'] },
    });
    expect(res.status).toBe(status);
    expect(json(res).code).toBe('UNAUTHENTICATED');
  });

  it.each([
    [{ deployment: 'nope', groups: ['router'] }, 404, "Deployment 'nope' doesn't exist"],
    [{ deployment: 'cf', groups: ['routr'] }, 404, "no instance group 'routr'"],
    [{ deployment: 'cf', groups: ['router'], instances: ['no-such-id'] }, 404, "No instance 'no-such-id'"],
    [{ deployment: 'cf' }, 400, 'groups'],
    [{ deployment: 'cf', groups: ['router'], filter: 'udp port' }, 400, 'syntax error'],
    [{ deployment: 'cf', groups: ['router'], app_guid: 'x' }, 400, 'app_guid'],
  ])('answers %j with %i naming the problem', async (body, status, text) => {
    const res = await call(`${api!.url}/bosh/captures`, {
      method: 'POST',
      headers: { authorization: `bearer ${boshToken()}` },
      body,
    });
    expect(res.status).toBe(status);
    expect(String(json(res).message)).toContain(text);
  });

  it('stopping an unknown capture is 404, and BOSH mode is off unless configured', async () => {
    const notMine = await call(`${api!.url}/bosh/captures/${randomUUID()}`, {
      method: 'DELETE',
      headers: { authorization: `bearer ${boshToken()}` },
    });
    expect(notMine.status).toBe(404);
    const plain = await ApiUnderTest.start(apiConfigObject(world, certs, {}));
    try {
      const res = await call(`${plain.url}/bosh/captures`, {
        method: 'POST',
        headers: { authorization: `bearer ${boshToken()}` },
        body: { deployment: 'cf', groups: ['router'] },
      });
      expect(res.status).toBe(404);
    } finally {
      await plain.close();
    }
  });
});
