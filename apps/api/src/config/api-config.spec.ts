import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ApiConfig } from './api-config';
import { ApiConfigError } from './api-config.error';

const minimal = {
  uaa: { url: 'https://uaa.example.org' },
  cloud_controller: { url: 'https://api.example.org' },
  agents: { mtls: { certificate: '/c.crt', private_key: '/c.key', ca: '/ca.crt' } },
};

function problemsOf(raw: unknown): readonly string[] {
  try {
    ApiConfig.fromObject(raw);
  } catch (err) {
    if (err instanceof ApiConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected an ApiConfigError');
}

describe('ApiConfig', () => {
  it('fills every default from a minimal document', () => {
    const c = ApiConfig.fromObject(minimal);
    expect(c.listen).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(c.agents.port).toBe(9494);
    expect(c.agents.mtls.server_name).toBe('pcap-agent.service.cf.internal');
    expect(c.agents.endpoints).toEqual({});
    expect(c.policy).toEqual({
      require_ssh_enabled: false,
      admins_only: false,
      allow_read_only_admins: false,
    });
    expect(c.limits).toMatchObject({
      concurrent_captures: 50,
      concurrent_captures_per_user: 3,
      instances_per_capture: 20,
      max_duration_seconds: 3600,
      snaplen_max: 65535,
    });
    expect(c.limits.max_bytes).toBeUndefined();
    expect(c.stream).toEqual({
      high_watermark_bytes: 8 << 20,
      low_watermark_bytes: 4 << 20,
      gc_pacing_bytes: 4 << 20,
    });
    expect(c.drainTimeoutSeconds).toBe(30);
    expect(c.uaa.key_refetch_interval_seconds).toBe(30);
    expect(c.logging.format).toBe('json');
  });

  it('lists every problem at once', () => {
    const problems = problemsOf({
      listen: { port: 70000 },
      uaa: { url: 'ftp://uaa' },
      agents: { mtls: { certificate: '' }, endpoints: { '10.0.0.1': 'no-port' }, exclude_addresses: ['x'] },
      limits: { concurrent_captures: 0, snaplen_max: 300000 },
      stream: { high_watermark_bytes: 10, low_watermark_bytes: 20 },
      surprise: true,
    });
    const text = problems.join('\n');
    for (const key of [
      'listen.port',
      'uaa.url',
      'cloud_controller',
      'agents.mtls.certificate',
      'agents.mtls.private_key',
      'agents.endpoints.10.0.0.1',
      'agents.exclude_addresses.0',
      'limits.concurrent_captures',
      'limits.snaplen_max',
      'stream',
      'surprise',
    ]) {
      expect(text).toContain(key);
    }
  });

  it('refuses a per-user limit above the global one, and ca together with skip_tls_verify', () => {
    const problems = problemsOf({
      ...minimal,
      uaa: { url: 'https://uaa', ca: '/ca.pem', skip_tls_verify: true },
      limits: { concurrent_captures: 2, concurrent_captures_per_user: 5 },
    });
    expect(problems).toEqual([
      'uaa.skip_tls_verify: give either ca or skip_tls_verify, not both',
      'limits.concurrent_captures_per_user: must not exceed limits.concurrent_captures',
    ]);
  });

  describe('load', () => {
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'api-config-'))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('reads YAML', () => {
      const file = join(dir, 'api.yml');
      writeFileSync(
        file,
        [
          'uaa: {url: "https://uaa.example.org"}',
          'cloud_controller: {url: "https://api.example.org"}',
          'agents:',
          '  port: 9500',
          '  endpoints: {"10.0.16.4": "10.0.16.4:9600"}',
          '  mtls: {certificate: /c.crt, private_key: /c.key, ca: /ca.crt}',
          'policy: {admins_only: true}',
          'limits: {max_bytes: 1000000}',
        ].join('\n'),
      );
      const c = ApiConfig.load(file);
      expect(c.agents.port).toBe(9500);
      expect(c.agents.endpoints).toEqual({ '10.0.16.4': '10.0.16.4:9600' });
      expect(c.policy.admins_only).toBe(true);
      expect(c.limits.max_bytes).toBe(1000000);
    });

    it('names the file when it is missing or not YAML', () => {
      expect(() => ApiConfig.load(join(dir, 'nope.yml'))).toThrow(/nope\.yml[\s\S]*cannot read/);
      const bad = join(dir, 'bad.yml');
      writeFileSync(bad, 'uaa: [unclosed');
      expect(() => ApiConfig.load(bad)).toThrow(/invalid YAML/);
    });
  });
});
