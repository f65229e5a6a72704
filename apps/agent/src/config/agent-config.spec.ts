import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { AgentConfig } from './agent-config';
import { AgentConfigError } from './agent-config.error';

const TLS = { certificate: '/c/agent.crt', private_key: '/c/agent.key', client_ca: '/c/ca.crt' };

describe('AgentConfig', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'agent-config-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function write(name: string, text: string): string {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  }

  it('applies every default when only tls is given', () => {
    const file = write(
      'minimal.yml',
      'tls:\n  certificate: /c/agent.crt\n  private_key: /c/agent.key\n  client_ca: /c/ca.crt\n',
    );
    const config = AgentConfig.load(file);
    expect(config.listen).toEqual({ host: '0.0.0.0', port: 9494 });
    expect(config.tls).toEqual(TLS);
    expect(config.cell).toEqual({
      container_store: '/var/vcap/data/container-metadata/store.json',
      runc_binary: 'runc',
      runc_root: '/run/containerd/runc/garden',
      runc_timeout_seconds: 5,
    });
    expect(config.capture).toEqual({
      default_device: 'eth0',
      snaplen_default: 65535,
      snaplen_max: 262144,
      buffer_size: 0,
      buffer_size_max: 64 << 20,
      max_concurrent: 10,
      immediate: false,
      isolation: 'process',
      block_timeout_ms: 50,
      gc_pacing_bytes: 1 << 20,
      drain_timeout_seconds: 10,
    });
    expect(config.queue).toEqual({ high_watermark: 8 << 20, low_watermark: 4 << 20 });
  });

  it('keeps given values', () => {
    const config = AgentConfig.fromObject({
      listen: { host: '127.0.0.1', port: 19494 },
      tls: { ...TLS, client_common_names: ['pcap-api.service.cf.internal'] },
      cell: { name: 'cell-1', runc_binary: '/var/vcap/packages/runc/bin/runc', runc_root: '/run/runc' },
      capture: {
        default_device: 'lo',
        max_concurrent: 3,
        max_duration_seconds: 600,
        drain_timeout_seconds: 2,
      },
      queue: { high_watermark: 1000, low_watermark: 500 },
    });
    expect(config.listen.port).toBe(19494);
    expect(config.tls.client_common_names).toEqual(['pcap-api.service.cf.internal']);
    expect(config.cell.runc_binary).toBe('/var/vcap/packages/runc/bin/runc');
    expect(config.capture).toMatchObject({
      default_device: 'lo',
      max_concurrent: 3,
      max_duration_seconds: 600,
    });
    expect(config.queue).toEqual({ high_watermark: 1000, low_watermark: 500 });
  });

  it('lists every problem in one error', () => {
    let error: unknown;
    try {
      AgentConfig.fromObject({
        listen: { port: 70000 },
        tls: { certificate: '/c/agent.crt' },
        capture: { default_device: 'eth0:1', snaplen_max: 0, max_concurrent: -1 },
        queue: { high_watermark: 10, low_watermark: 20 },
        surplus: true,
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(AgentConfigError);
    const problems = (error as AgentConfigError).problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^listen\.port: /),
        expect.stringMatching(/^tls\.private_key: /),
        expect.stringMatching(/^tls\.client_ca: /),
        expect.stringMatching(/^capture\.default_device: .*must not contain/),
        expect.stringMatching(/^capture\.snaplen_max: /),
        expect.stringMatching(/^capture\.max_concurrent: /),
        expect.stringMatching(/^\(root\): .*surplus/),
      ]),
    );
    expect(problems.length).toBeGreaterThanOrEqual(7);
    expect((error as Error).message).toContain('tls.private_key');
  });

  it('checks the watermarks against each other', () => {
    expect(() =>
      AgentConfig.fromObject({ tls: TLS, queue: { high_watermark: 10, low_watermark: 20 } }),
    ).toThrow(/queue: low_watermark must be below high_watermark/);
  });

  it('names an unreadable file and invalid YAML', () => {
    expect(() => AgentConfig.load(join(dir, 'missing.yml'))).toThrow(/missing\.yml:\n {2}- cannot read/);
    const bad = write('bad.yml', 'tls: [unclosed\n');
    expect(() => AgentConfig.load(bad)).toThrow(/invalid YAML/);
  });

  it('rejects an empty file for want of tls', () => {
    const empty = write('empty.yml', '');
    expect(() => AgentConfig.load(empty)).toThrow(/tls: /);
  });
});
