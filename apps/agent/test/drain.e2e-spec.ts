import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type ClientHttp2Session } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DiegoCell, type CellContainer } from '../../../test/support/diego-cell';
import { tsharkFields } from '../../../test/support/tcpdump';
import { TestCerts, json, request } from './agent-harness';
import { summarize } from './pcapng-events';

const ROOT = join(__dirname, '..', '..', '..');
const APP = randomUUID();

/** The agent as BOSH runs it: its own process, a YAML config, stopped with SIGTERM. */
describe('agent process: SIGTERM drains running captures', () => {
  let cell: DiegoCell;
  let certs: TestCerts;
  let dir: string;
  let child: ChildProcess | undefined;
  let session: ClientHttp2Session | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agent-drain-'));
    cell = await DiegoCell.create([{ appId: APP }]);
    certs = TestCerts.create();
  }, 60000);
  afterAll(async () => {
    session?.destroy();
    if (child?.exitCode === null) child.kill('SIGKILL');
    certs?.destroy();
    await cell?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ends the capture stream with statistics and a message, then exits 0', async () => {
    const c = cell.containers[0] as CellContainer;
    const configFile = join(dir, 'agent.yml');
    writeFileSync(
      configFile,
      [
        'listen: { host: 127.0.0.1, port: 0 }',
        'tls:',
        `  certificate: ${certs.file('agent.crt')}`,
        `  private_key: ${certs.file('agent.key')}`,
        `  client_ca: ${certs.file('ca.crt')}`,
        'cell:',
        '  name: drain-cell',
        `  container_store: ${cell.storeFile}`,
        `  runc_root: ${cell.runcRoot}`,
        // Buffered mode (TPACKET_V3): the drain must still deliver the block the kernel holds.
        'capture: { drain_timeout_seconds: 5, immediate: false, block_timeout_ms: 200 }',
        '',
      ].join('\n'),
    );
    const proc = spawn(
      process.execPath,
      [
        '-r',
        'ts-node/register/transpile-only',
        '-r',
        'tsconfig-paths/register',
        'apps/agent/src/main.ts',
        configFile,
      ],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, TS_NODE_PROJECT: 'tsconfig.json' },
      },
    );
    child = proc;
    let output = '';
    let timer: NodeJS.Timeout | undefined;
    const port = await new Promise<number>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(output);
        if (m) resolve(Number(m[1]));
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
      proc.once('exit', (code) => reject(new Error(`agent exited ${code}: ${output}`)));
      timer = setTimeout(() => reject(new Error(`agent did not start: ${output}`)), 45000);
    }).finally(() => clearTimeout(timer));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));

    const s = connect(`https://127.0.0.1:${port}`, {
      ca: certs.read('ca.crt'),
      servername: 'localhost',
      ...certs.client('api-client'),
    });
    session = s;
    const stream = s.request({ ':method': 'POST', ':path': '/captures', 'content-type': 'application/json' });
    stream.end(JSON.stringify({ target: { app_guid: APP, instance_guid: c.handle }, filter: 'udp' }));
    const chunks: Buffer[] = [];
    const started = new Promise((resolve) => stream.once('data', resolve));
    stream.on('data', (d: Buffer) => chunks.push(d));
    const ended = new Promise<void>((resolve, reject) => {
      stream.once('end', resolve);
      stream.once('error', reject);
    });
    await started;
    expect(json(await request(s, 'GET', '/status'))).toMatchObject({ healthy: true, activeCaptures: 1 });
    await cell.sendUdpTo(c, { port: 7201, count: 40 });

    proc.kill('SIGTERM');
    await ended;
    const data = Buffer.concat(chunks);
    const file = join(dir, 'drained.pcapng');
    writeFileSync(file, data);
    expect(tsharkFields(file, ['udp.dstport'], 'udp')).toEqual(Array.from({ length: 40 }, () => ['7201']));
    const { messages, statistics, lastBlockType } = await summarize(data);
    expect(messages.map((m) => [m.type, m.message, m.origin])).toEqual([
      ['CAPTURE_STOPPED', 'the agent is shutting down', `drain-cell/${c.handle}`],
    ]);
    expect(lastBlockType).toBe(5);
    expect(statistics[0]).toMatchObject({ usrDeliv: 40n, osDrop: 0n, ifDrop: 0n });
    expect(await exited).toBe(0);
    expect(output).toContain('SIGTERM: draining');
  }, 90000);
});
