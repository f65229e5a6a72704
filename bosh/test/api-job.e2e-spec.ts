import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { baseModel, startCfWorld, type CfWorld } from '../../test/support/api-harness';
import { RELEASE, renderJob } from './support/bosh-release';
import { startVcapJob, type VcapJob } from './support/vcap-layout';

function getHealth(port: number, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/health', ca, servername: 'localhost' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** pcap-api started from its rendered job (HTTPS on, UAA and Cloud Controller doubles), then drained by bin/drain. */
describe('pcap-api job', () => {
  let world: CfWorld;
  let work: string;
  let api: VcapJob | undefined;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'bosh-api-'));
    world = await startCfWorld(baseModel([]));
  });
  afterAll(async () => {
    api?.kill();
    await world?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('serves HTTPS with the rendered certificate and exits 0 through the rendered drain script', async () => {
    execFileSync(join(RELEASE, '..', 'scripts', 'gen-certs.sh'), [join(work, 'certs')], { stdio: 'ignore' });
    const pem = (file: string): string => readFileSync(join(work, 'certs', file), 'utf8');
    const rendered = renderJob(
      'pcap-api',
      {
        properties: {
          listen: {
            host: '127.0.0.1',
            port: 0,
            tls: { enabled: true, certificate: pem('agent.crt'), private_key: pem('agent.key') },
          },
          uaa: { url: world.uaa.url },
          cloud_controller: { url: world.cc.url },
          agents: {
            mtls: {
              certificate: pem('api-client.crt'),
              private_key: pem('api-client.key'),
              ca: pem('ca.crt'),
            },
          },
          drain_timeout_seconds: 3,
          logging: { format: 'text' },
        },
      },
      work,
    );
    if (!rendered.ok) throw new Error(rendered.error);
    const job = await startVcapJob('pcap-api', rendered.dir, 'api');
    api = job;
    const health = await getHealth(job.port, pem('ca.crt'));
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ healthy: true });

    const drain = await job.drain();
    expect(drain.stdout).toBe('0\n');
    expect(drain.stderr).toMatch(/pcap-api drain: SIGTERM to \d+, waiting up to 18s/);
    const exit = await job.exited;
    expect(exit.code).toBe(0);
    expect(exit.at).toBeLessThanOrEqual(drain.at);
    expect(job.output()).toContain('SIGTERM: draining');
  }, 120000);
});
