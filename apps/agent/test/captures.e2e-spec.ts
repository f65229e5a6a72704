import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import {
  constants,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
} from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DiegoCell, type CellContainer } from '../../../test/support/diego-cell';
import { tsharkFields } from '../../../test/support/tcpdump';
import { AgentUnderTest, TestCerts, json, request } from './agent-harness';
import { summarize, udpSequences } from './pcapng-events';

const APP_1 = randomUUID();
const APP_2 = randomUUID();

/** A running `POST /captures` as the API sees it. */
class CaptureCall {
  readonly chunks: Buffer[] = [];
  readonly headers: Promise<IncomingHttpHeaders>;
  /** Resolves when the first bytes (SHB, IDB) arrived: the capture is open. */
  readonly started: Promise<void>;
  readonly ended: Promise<Buffer>;

  constructor(readonly stream: ClientHttp2Stream) {
    this.headers = new Promise((resolve, reject) => {
      stream.once('response', resolve);
      stream.once('error', reject);
    });
    this.started = new Promise((resolve, reject) => {
      stream.once('data', () => resolve());
      stream.once('close', () => reject(new Error('closed before data')));
    });
    stream.on('data', (c: Buffer) => this.chunks.push(c));
    this.ended = new Promise((resolve, reject) => {
      stream.once('end', () => resolve(Buffer.concat(this.chunks)));
      stream.once('error', reject);
    });
  }

  static start(session: ClientHttp2Session, body: unknown): CaptureCall {
    const stream = session.request({
      ':method': 'POST',
      ':path': '/captures',
      'content-type': 'application/json',
    });
    stream.end(JSON.stringify(body));
    return new CaptureCall(stream);
  }

  async id(): Promise<string> {
    return String((await this.headers)['x-capture-id']);
  }
}

/** PIDs of this process's capture workers (one per running capture of the in-process agent). */
function workerPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // comm is in parentheses and may hold spaces; the fields after it are space-separated
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && comm.startsWith('pcap_capture_wo')) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

describe('agent captures over HTTP/2 mTLS on a simulated cell', () => {
  let cell: DiegoCell;
  let certs: TestCerts;
  let agent: AgentUnderTest;
  let session: ClientHttp2Session;
  let dir: string;
  let c1: CellContainer;
  let c2: CellContainer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agent-captures-'));
    cell = await DiegoCell.create([{ appId: APP_1 }, { appId: APP_2 }]);
    [c1, c2] = cell.containers as [CellContainer, CellContainer];
    certs = TestCerts.create();
    agent = await AgentUnderTest.start(certs, {
      cell: { name: 'cell-z1-0', container_store: cell.storeFile, runc_root: cell.runcRoot },
      capture: { max_concurrent: 2, max_duration_seconds: 120 },
      // Small, so that a paused reader congests the queue quickly.
      queue: { high_watermark: 256 * 1024, low_watermark: 128 * 1024 },
    });
    session = await agent.connect();
  }, 60000);
  afterAll(async () => {
    session?.close();
    await agent?.close();
    certs?.destroy();
    await cell?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function save(name: string, data: Buffer): string {
    const file = join(dir, name);
    writeFileSync(file, data);
    return file;
  }

  async function active(): Promise<number> {
    return json(await request(session, 'GET', '/status')).activeCaptures as number;
  }

  async function waitForIdle(): Promise<void> {
    for (let i = 0; i < 100 && ((await active()) !== 0 || workerPids().length > 0); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await active()).toBe(0);
    expect(workerPids()).toEqual([]);
  }

  it("streams exactly container 1's eth0 traffic as pcapng that tshark reads", async () => {
    const call = CaptureCall.start(session, {
      target: { app_guid: APP_1, instance_guid: c1.handle },
      filter: 'udp',
      origin: { org: 'o', space: 's', app: 'app-one', index: '0' },
    });
    const headers = await call.headers;
    expect(headers[':status']).toBe(200);
    expect(headers['content-type']).toBe('application/x-pcapng');
    await call.started;
    await cell.sendUdpTo(c1, { port: 7101, count: 25, size: 120 });
    await cell.sendUdpTo(c2, { port: 7102, count: 9, size: 120 });
    const stopped = await request(session, 'DELETE', `/captures/${await call.id()}`);
    expect(stopped.status).toBe(202);
    const data = await call.ended;
    const file = save('c1.pcapng', data);

    // Control messages travel in blocks tshark does not count as frames.
    const { messages, statistics, lastBlockType } = await summarize(data);
    expect(tsharkFields(file, ['frame.number'])).toHaveLength(25);
    const rows = tsharkFields(file, ['ip.src', 'ip.dst', 'udp.dstport', 'frame.interface_name'], 'udp');
    expect(rows).toHaveLength(25);
    expect(new Set(rows.map((r) => r.join(' ')))).toEqual(new Set([`${c1.cellIp} ${c1.ip} 7101 eth0`]));
    const [description] = tsharkFields(file, ['frame.interface_description'])[0] ?? [];
    expect(description).toContain(`app_guid=${APP_1}`);
    expect(description).toContain(`instance_guid=${c1.handle}`);
    expect(description).toContain('app=app-one');
    expect(description).toContain('cell=cell-z1-0');
    expect(execFileSync('capinfos', ['-c', '-M', file], { encoding: 'utf8' })).toMatch(
      /Number of packets:\s+25/,
    );
    expect(messages.map((m) => [m.type, m.origin, m.message])).toEqual([
      ['CAPTURE_STOPPED', `cell-z1-0/${c1.handle}`, 'capture stopped by request'],
    ]);
    expect(lastBlockType).toBe(5);
    expect(statistics).toHaveLength(1);
    expect(statistics[0]).toMatchObject({ interfaceId: 0, ifDrop: 0n, osDrop: 0n, usrDeliv: 25n });
    expect(statistics[0]!.ifRecv).toBeGreaterThanOrEqual(25n);
    await waitForIdle();
  });

  it('captures lo inside container 2, found by IP', async () => {
    const call = CaptureCall.start(session, {
      target: { app_guid: APP_2, instance_ip: c2.ip },
      device: 'lo',
      filter: 'udp port 7103',
    });
    await call.started;
    await cell.sendUdpToLoopback(c2, { port: 7103, count: 12 });
    await cell.sendUdpTo(c2, { port: 7103, count: 5 });
    await request(session, 'DELETE', `/captures/${await call.id()}`);
    const file = save('lo.pcapng', await call.ended);
    const rows = tsharkFields(file, ['ip.src', 'ip.dst', 'frame.interface_name'], 'udp');
    expect(rows).toHaveLength(12);
    expect(new Set(rows.map((r) => r.join(' ')))).toEqual(new Set(['127.0.0.1 127.0.0.1 lo']));
    await waitForIdle();
  });

  it('streams a capture to an HTTP/1.1 client over the same mTLS port', async () => {
    const response = new Promise<{ status: number; version: string; id: string; body: Promise<Buffer> }>(
      (resolve, reject) => {
        const req = httpsRequest(
          {
            host: '127.0.0.1',
            port: agent.port,
            method: 'POST',
            path: '/captures',
            headers: { 'content-type': 'application/json' },
            servername: 'localhost',
            ca: certs.read('ca.crt'),
            ...certs.client('api-client'),
            agent: false,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            resolve({
              status: res.statusCode ?? 0,
              version: res.httpVersion,
              id: String(res.headers['x-capture-id']),
              body: new Promise((done, fail) => {
                res.once('end', () => done(Buffer.concat(chunks)));
                res.once('error', fail);
              }),
            });
          },
        );
        req.on('error', reject);
        req.end(
          JSON.stringify({ target: { app_guid: APP_1, instance_guid: c1.handle }, filter: 'udp port 7104' }),
        );
      },
    );
    const { status, version, id, body } = await response;
    expect([status, version]).toEqual([200, '1.1']);
    await cell.sendUdpTo(c1, { port: 7104, count: 3000, size: 200, gapUs: 0 });
    await request(session, 'DELETE', `/captures/${id}`);
    const data = await body;
    expect(await udpSequences(data)).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    const { statistics, lastBlockType } = await summarize(data);
    expect(lastBlockType).toBe(5);
    expect(statistics[0]).toMatchObject({ ifDrop: 0n, osDrop: 0n, usrDeliv: 3000n });
    await waitForIdle();
  });

  it("refuses to capture another app's container", async () => {
    const response = await request(session, 'POST', '/captures', {
      target: { app_guid: APP_2, instance_guid: c1.handle },
    });
    expect(response.status).toBe(403);
    expect(json(response)).toEqual({
      code: 'FORBIDDEN',
      message: `container ${c1.handle} does not belong to app ${APP_2}; refusing to capture it`,
    });
    expect(await active()).toBe(0);
  });

  it.each<[string, Record<string, unknown>, number, string | RegExp]>([
    ['device too long', { device: 'abcdefghijklmnop' }, 400, 'device must be at most 15 characters, got 16'],
    [
      'device with slash',
      { device: 'eth0/1' },
      400,
      "device 'eth0/1' must not contain '/', ':', whitespace or NUL",
    ],
    [
      'device with colon',
      { device: 'eth0:1' },
      400,
      "device 'eth0:1' must not contain '/', ':', whitespace or NUL",
    ],
    [
      'device with space',
      { device: 'eth 0' },
      400,
      "device 'eth 0' must not contain '/', ':', whitespace or NUL",
    ],
    ['device ..', { device: '..' }, 400, "device must not be '..'"],
    ['empty device', { device: '' }, 400, 'device must not be empty'],
    [
      'filter too long',
      { filter: 'a'.repeat(5001) },
      400,
      'filter must be at most 5000 characters, got 5001',
    ],
    ['filter not ASCII', { filter: 'host é' }, 400, 'filter must contain printable ASCII characters only'],
    ['filter not compiling', { filter: 'tcp port nope' }, 400, /^invalid filter 'tcp port nope': .+/],
    ['snaplen 0', { snaplen: 0 }, 400, 'snaplen must be an integer from 1 to 262144, got 0'],
    ['snaplen too big', { snaplen: 262145 }, 400, 'snaplen must be an integer from 1 to 262144, got 262145'],
    [
      'buffer too big',
      { buffer_size: 1 << 30 },
      400,
      /^buffer_size must be an integer from 0 to 67108864 bytes/,
    ],
    [
      'duration over max',
      { duration_seconds: 121 },
      400,
      'duration_seconds must be an integer from 1 to 120, got 121',
    ],
    ['unknown option', { promisc: true }, 400, /body: Unrecognized key: "promisc"/],
    ['unknown device', { device: 'eth9' }, 404, /eth9/],
  ])('%s → %p with its message, nothing starts', async (_name, options, status, message) => {
    const response = await request(session, 'POST', '/captures', {
      target: { app_guid: APP_1, instance_guid: c1.handle },
      ...options,
    });
    expect(response.status).toBe(status);
    expect(json(response).message).toEqual(
      typeof message === 'string' ? message : expect.stringMatching(message),
    );
    expect(await active()).toBe(0);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['no target', {}, 'target: Invalid input: expected object, received undefined'],
    [
      'no app guid',
      { target: { instance_guid: 'abc' } },
      'target.app_guid is required (or target.host: true for a device of this VM)',
    ],
    ['no instance', { target: { app_guid: APP_1 } }, 'target needs instance_guid or instance_ip'],
    [
      'bad ip',
      { target: { app_guid: APP_1, instance_ip: '10.0.0.300' } },
      "target.instance_ip '10.0.0.300' is not an IPv4 address",
    ],
  ])('target: %s → 400', async (_name, body, message) => {
    const response = await request(session, 'POST', '/captures', body);
    expect(response.status).toBe(400);
    expect(json(response).message).toBe(message);
  });

  it('ends with "limit reached" at the packet limit', async () => {
    const call = CaptureCall.start(session, {
      target: { app_guid: APP_1, instance_guid: c1.handle },
      filter: 'udp port 7104',
      max_packets: 5,
    });
    await call.started;
    await cell.sendUdpTo(c1, { port: 7104, count: 20 });
    const data = await call.ended;
    expect(tsharkFields(save('limit.pcapng', data), ['udp.dstport'], 'udp')).toHaveLength(5);
    expect((await summarize(data)).messages.at(-1)).toMatchObject({
      type: 'LIMIT_REACHED',
      fields: { limit: 'packets' },
      message: 'packet limit of 5 reached',
    });
    await waitForIdle();
  });

  it('cuts at the byte limit, counting captured bytes', async () => {
    const call = CaptureCall.start(session, {
      target: { app_guid: APP_1, instance_guid: c1.handle },
      filter: 'udp port 7108',
      max_bytes: 500,
    });
    await call.started;
    // 142 captured bytes per frame (Ethernet 14 + IPv4 20 + UDP 8 + 100): 3 fit into 500.
    await cell.sendUdpTo(c1, { port: 7108, count: 10, size: 100 });
    const data = await call.ended;
    expect(tsharkFields(save('bytes.pcapng', data), ['frame.cap_len'], 'udp')).toEqual([
      ['142'],
      ['142'],
      ['142'],
    ]);
    expect((await summarize(data)).messages.at(-1)).toMatchObject({
      type: 'LIMIT_REACHED',
      message: 'byte limit of 500 reached',
      fields: { limit: 'bytes' },
    });
    await waitForIdle();
  });

  it('ends at the duration limit', async () => {
    const started = Date.now();
    const call = CaptureCall.start(session, {
      target: { app_guid: APP_1, instance_guid: c1.handle },
      duration_seconds: 1,
    });
    const data = await call.ended;
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - started).toBeLessThan(15000);
    expect((await summarize(data)).messages.at(-1)).toMatchObject({
      type: 'LIMIT_REACHED',
      message: 'duration limit of 1s reached',
      fields: { limit: 'duration' },
    });
    await waitForIdle();
  });

  it('refuses a capture over the concurrency limit with 429 "limit reached"', async () => {
    const a = CaptureCall.start(session, { target: { app_guid: APP_1, instance_guid: c1.handle } });
    const b = CaptureCall.start(session, { target: { app_guid: APP_2, instance_guid: c2.handle } });
    await Promise.all([a.started, b.started]);
    const refused = await request(session, 'POST', '/captures', {
      target: { app_guid: APP_1, instance_guid: c1.handle },
    });
    expect(refused.status).toBe(429);
    expect(json(refused)).toEqual({
      code: 'LIMIT_REACHED',
      message: 'limit reached: this agent already runs 2 captures',
    });
    for (const call of [a, b]) await request(session, 'DELETE', `/captures/${await call.id()}`);
    await Promise.all([a.ended, b.ended]);
    await waitForIdle();
  });

  it('discards and counts packets while the reader is too slow, and says so in-band', async () => {
    const sent = 30000;
    const call = CaptureCall.start(session, {
      target: { app_guid: APP_1, instance_guid: c1.handle },
      filter: 'udp port 7106',
    });
    await call.started;
    // HTTP/2 flow control stops the agent's writes once the client stops reading.
    call.stream.pause();
    await cell.sendUdpTo(c1, { port: 7106, count: sent, size: 1200, gapUs: 10 });
    call.stream.resume();
    await request(session, 'DELETE', `/captures/${await call.id()}`);
    const data = await call.ended;
    const file = save('congested.pcapng', data);

    const { messages, statistics } = await summarize(data);
    const { ifRecv, ifDrop, osDrop, usrDeliv: written } = statistics[0]!;
    if (ifRecv === undefined || ifDrop === undefined || osDrop === undefined || written === undefined) {
      throw new Error('ISB without counters');
    }
    expect(osDrop).toBeGreaterThan(0n);
    // Every packet is accounted for: written, discarded by us, or dropped by the kernel.
    expect(written + osDrop + ifDrop).toBe(BigInt(sent));
    expect(ifRecv).toBeGreaterThanOrEqual(BigInt(sent));
    expect(BigInt(tsharkFields(file, ['frame.number'], 'udp').length)).toBe(written);
    // The engine's batch buffers are lent to the response until written: whole batches are missing, but nothing is
    // repeated, reordered or overwritten.
    const seqs = await udpSequences(data);
    expect(BigInt(seqs.length)).toBe(written);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]!);

    const congested = messages.filter((m) => m.type === 'CONGESTED');
    expect(congested[0]?.message).toBe('reader too slow: discarding packets');
    const reported = congested.reduce((n, m) => n + Number(m.fields?.discardedPackets ?? 0), 0);
    // Discards after the last "congestion over" are reported by the ISB only.
    expect(BigInt(reported)).toBeLessThanOrEqual(osDrop);
    await waitForIdle();
  }, 60000);

  it('stops the capture and frees its resources when the client goes away', async () => {
    const fdsBefore = readdirSync('/proc/self/fd').length;
    const call = CaptureCall.start(session, { target: { app_guid: APP_1, instance_guid: c1.handle } });
    await call.started;
    expect(await active()).toBe(1);
    call.stream.close(constants.NGHTTP2_CANCEL);
    await waitForIdle();
    expect(readdirSync('/proc/self/fd').length).toBeLessThanOrEqual(fdsBefore);
  });

  it('excludes its own connection from a host capture', async () => {
    const call = CaptureCall.start(session, { target: { host: true }, device: 'lo', filter: 'tcp' });
    await call.started;
    // Traffic on the agent's own connection while the capture runs.
    for (let i = 0; i < 5; i++) await request(session, 'GET', '/status');
    await request(session, 'DELETE', `/captures/${await call.id()}`);
    const file = save('host.pcapng', await call.ended);
    const ports = tsharkFields(file, ['tcp.srcport', 'tcp.dstport'], 'tcp').flat().map(Number);
    expect(ports).not.toContain(agent.port);
    await waitForIdle();
  });

  it('a capture whose worker process crashes ends with a message and a valid file; the others go on', async () => {
    const call = CaptureCall.start(session, {
      target: { app_guid: APP_2, instance_guid: c2.handle },
      filter: 'udp',
    });
    await call.started;
    const [victim] = workerPids();
    expect(victim).toBeDefined();
    const other = CaptureCall.start(session, {
      target: { app_guid: APP_1, instance_guid: c1.handle },
      filter: 'udp port 7109',
    });
    await other.started;
    await cell.sendUdpTo(c2, { port: 7108, count: 7 });
    await new Promise((r) => setTimeout(r, 300)); // delivered before the fault
    process.kill(victim!, 'SIGSEGV');
    const data = await call.ended;
    const file = save('crashed.pcapng', data);
    expect(tsharkFields(file, ['udp.dstport'], 'udp')).toEqual(Array.from({ length: 7 }, () => ['7108']));
    const { messages, lastBlockType } = await summarize(data);
    expect(messages.at(-1)).toMatchObject({ type: 'INSTANCE_UNAVAILABLE' });
    expect(messages.at(-1)?.message).toMatch(/ended unexpectedly \(signal SIGSEGV\)/);
    expect(lastBlockType).toBe(5);

    // the agent and the other capture are untouched
    expect(await active()).toBe(1);
    await cell.sendUdpTo(c1, { port: 7109, count: 5 });
    await request(session, 'DELETE', `/captures/${await other.id()}`);
    const otherFile = save('after-crash.pcapng', await other.ended);
    expect(tsharkFields(otherFile, ['udp.dstport'], 'udp')).toHaveLength(5);
    await waitForIdle();
  }, 60000);

  it('ends the stream cleanly with a message and a valid file when the container dies', async () => {
    const call = CaptureCall.start(session, {
      target: { app_guid: APP_2, instance_guid: c2.handle },
      filter: 'udp',
    });
    // A capture of the other container must not notice.
    const other = CaptureCall.start(session, {
      target: { app_guid: APP_1, instance_guid: c1.handle },
      filter: 'udp port 7107',
    });
    await Promise.all([call.started, other.started]);
    await cell.sendUdpTo(c2, { port: 7105, count: 6 });
    await cell.kill(c2.handle);
    cell.removeNetwork(c2);
    const data = await call.ended;
    const file = save('died.pcapng', data);
    expect(tsharkFields(file, ['udp.dstport'], 'udp')).toEqual(Array.from({ length: 6 }, () => ['7105']));
    const { messages, lastBlockType } = await summarize(data);
    expect(messages.at(-1)).toMatchObject({ type: 'INSTANCE_UNAVAILABLE' });
    expect(messages.at(-1)?.message).toMatch(/^capture ended: /);
    expect(lastBlockType).toBe(5);

    expect(await active()).toBe(1);
    await cell.sendUdpTo(c1, { port: 7107, count: 4 });
    await request(session, 'DELETE', `/captures/${await other.id()}`);
    const otherFile = save('survivor.pcapng', await other.ended);
    expect(tsharkFields(otherFile, ['udp.dstport'], 'udp')).toHaveLength(4);
    await waitForIdle();
  }, 60000);
});
