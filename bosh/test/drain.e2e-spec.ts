import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type ClientHttp2Session } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DiegoCell, type CellContainer } from '../../test/support/diego-cell';
import { tsharkFields } from '../../test/support/tcpdump';
import { RELEASE, renderJob } from './support/bosh-release';
import { startVcapJob, type VcapJob } from './support/vcap-layout';

const APP = randomUUID();
const DRAIN_TIMEOUT = 5;

/**
 * The agent started from its rendered job on a simulated Diego cell (real runc container); the rendered bin/drain
 * stops it during a capture.
 */
describe('pcap-agent drain script', () => {
  let cell: DiegoCell;
  let work: string;
  let agent: VcapJob | undefined;
  let session: ClientHttp2Session | undefined;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'bosh-drain-'));
    cell = await DiegoCell.create([{ appId: APP }]);
  }, 60000);
  afterAll(async () => {
    session?.destroy();
    agent?.kill();
    await cell?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('stops a running capture gracefully, waits for the agent to exit 0 and prints 0', async () => {
    execFileSync(join(RELEASE, '..', 'scripts', 'gen-certs.sh'), [join(work, 'certs')], { stdio: 'ignore' });
    const pem = (file: string): string => readFileSync(join(work, 'certs', file), 'utf8');
    const rendered = renderJob(
      'pcap-agent',
      {
        properties: {
          listen: { host: '127.0.0.1', port: 0 },
          tls: { certificate: pem('agent.crt'), private_key: pem('agent.key'), client_ca: pem('ca.crt') },
          cell: { container_store: cell.storeFile, runc_root: cell.runcRoot },
          capture: { drain_timeout_seconds: DRAIN_TIMEOUT },
        },
        spec: { name: 'diego-cell', id: 'drain-test' },
      },
      work,
    );
    if (!rendered.ok) throw new Error(rendered.error);
    expect(rendered.read('bin/drain')).toContain(`wait_seconds=${DRAIN_TIMEOUT + 15}\n`);
    const job = await startVcapJob('pcap-agent', rendered.dir, 'agent');
    agent = job;

    const c = cell.containers[0] as CellContainer;
    const s = connect(`https://127.0.0.1:${job.port}`, {
      ca: pem('ca.crt'),
      servername: 'localhost',
      key: pem('api-client.key'),
      cert: pem('api-client.crt'),
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
    await cell.sendUdpTo(c, { port: 7301, count: 30 });

    const t0 = Date.now();
    const drain = await job.drain();
    expect(drain.stdout).toBe('0\n'); // the BOSH drain protocol: nothing but the number on stdout
    expect(drain.stderr).toMatch(/pcap-agent drain: SIGTERM to \d+, waiting up to 20s/);
    const exit = await job.exited;
    expect(exit.code).toBe(0);
    expect(exit.at).toBeLessThanOrEqual(drain.at); // the agent had exited when the script returned
    expect((drain.at - t0) / 1000).toBeLessThan(DRAIN_TIMEOUT + 15);

    await ended;
    const data = Buffer.concat(chunks);
    const file = join(work, 'drained.pcapng');
    writeFileSync(file, data);
    expect(tsharkFields(file, ['udp.dstport'], 'udp')).toEqual(Array.from({ length: 30 }, () => ['7301']));
    expect(data.includes(Buffer.from('the agent is shutting down'))).toBe(true);
    expect(job.output()).toContain('SIGTERM: draining');
  }, 120000);

  it('prints 0 at once when the agent is not running', () => {
    const rendered = renderJob(
      'pcap-agent',
      {
        properties: {
          tls: { certificate: '-----BEGIN x', private_key: '-----BEGIN x', client_ca: '-----BEGIN x' },
        },
      },
      work,
    );
    if (!rendered.ok) throw new Error(rendered.error);
    const boot = `mount -t tmpfs tmpfs /var && exec bash "${rendered.dir}/bin/drain" job_shutdown hash_unchanged`;
    const out = execFileSync('unshare', ['--mount', '--propagation', 'private', 'bash', '-c', boot], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 10000,
    });
    expect(out).toBe('0\n');
  });
});
