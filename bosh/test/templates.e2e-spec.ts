import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';

import { parse as parseYaml } from 'yaml';

// The apps' own config loaders (eslint.config.mjs allows bosh/test exactly these imports from apps/).
import { AgentConfig } from '../../apps/agent/src/config/agent-config';
import { readTlsMaterial as readAgentTls } from '../../apps/agent/src/config/tls-material';
import { ApiConfig } from '../../apps/api/src/config/api-config';
import { readTlsMaterial as readApiTls } from '../../apps/api/src/config/tls-material';
import {
  RELEASE,
  getPath,
  jobSpec,
  renderJob,
  setProperty,
  type RenderContext,
  type RenderResult,
} from './support/bosh-release';

const GEN_CERTS = join(RELEASE, '..', 'scripts', 'gen-certs.sh');
const SPEC = { name: 'diego-cell', id: '1f2e3d4c-aaaa-bbbb-cccc-0123456789ab', index: 2, az: 'z2' };

let work: string;
let pem: (file: string) => string;
const rendered: string[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'bosh-templates-'));
  execFileSync(GEN_CERTS, [join(work, 'certs')], { stdio: 'ignore' });
  pem = (file) => readFileSync(join(work, 'certs', file), 'utf8');
});
afterAll(() => {
  for (const dir of rendered) rmSync(join(dir, '..'), { recursive: true, force: true });
  if (work) rmSync(work, { recursive: true, force: true });
});

function nested(flat: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(flat)) setProperty(out, name, value);
  return out;
}

function render(job: string, context: RenderContext): RenderResult {
  const result = renderJob(job, context, work);
  if (result.ok) rendered.push(result.dir);
  return result;
}

function renderOk(job: string, context: RenderContext): Extract<RenderResult, { ok: true }> {
  const result = render(job, context);
  if (!result.ok) throw new Error(result.error);
  return result;
}

function renderError(job: string, context: RenderContext): string {
  const result = render(job, context);
  if (result.ok) throw new Error(`${job} rendered although it should not`);
  return result.error;
}

/**
 * The rendered config with /var/vcap/jobs/<job>/ pointing at the render dir, so the apps can read the rendered
 * certificate files (the config itself is loaded unchanged first).
 */
function rerooted(job: string, dir: string): string {
  const file = join(dir, 'config', 'rerooted.yml');
  const text = readFileSync(join(dir, 'config', job === 'pcap-api' ? 'api.yml' : 'agent.yml'), 'utf8');
  writeFileSync(file, text.replaceAll(`/var/vcap/jobs/${job}/`, `${dir}/`));
  return file;
}

/** Leaf paths of a loaded config (maps and arrays of a declared property count as one value). */
function leafPaths(value: unknown, declared: string[], prefix = ''): string[] {
  if (prefix && declared.includes(prefix)) return [prefix];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [prefix];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) =>
    leafPaths(v, declared, prefix ? `${prefix}.${k}` : k),
  );
}

describe('pcap-api job', () => {
  const spec = jobSpec('pcap-api');
  const required = (): Record<string, unknown> => ({
    'uaa.url': 'https://uaa.sys.example.com',
    'cloud_controller.url': 'https://api.sys.example.com',
    'agents.mtls.certificate': pem('api-client.crt'),
    'agents.mtls.private_key': pem('api-client.key'),
    'agents.mtls.ca': pem('ca.crt'),
  });
  /** A value for every property of the spec, none of them the default. */
  const every = (): Record<string, unknown> => ({
    ...required(),
    'listen.host': '127.0.0.1',
    'listen.port': 8443,
    'listen.tls.enabled': true,
    'listen.tls.certificate': pem('agent.crt'),
    'listen.tls.private_key': pem('agent.key'),
    'uaa.ca': pem('ca.crt'),
    'uaa.skip_tls_verify': false,
    'uaa.timeout_seconds': 20,
    'uaa.issuer': 'https://uaa.sys.example.com/oauth/token',
    'uaa.key_refetch_interval_seconds': 60,
    'cloud_controller.ca': pem('ca.crt'),
    'cloud_controller.skip_tls_verify': false,
    'cloud_controller.timeout_seconds': 15,
    'agents.port': 9595,
    'agents.endpoints': { '10.0.16.5': '10.0.16.5:19494' },
    'agents.mtls.server_name': 'agent.pcap.internal',
    'agents.connect_timeout_seconds': 5,
    'agents.exclude_addresses': ['10.0.1.10', '10.0.1.11'],
    'policy.require_ssh_enabled': true,
    'policy.admins_only': true,
    'policy.allow_read_only_admins': true,
    'limits.concurrent_captures': 100,
    'limits.concurrent_captures_per_user': 5,
    'limits.instances_per_capture': 10,
    'limits.max_duration_seconds': 600,
    'limits.max_bytes': 1_000_000_000,
    'limits.max_packets': 1_000_000,
    'limits.snaplen_max': 9000,
    'stream.high_watermark_bytes': 16_777_216,
    'stream.low_watermark_bytes': 8_388_608,
    'stream.gc_pacing_bytes': 2_097_152,
    drain_timeout_seconds: 60,
    'cli.binaries_dir': '/var/vcap/store/pcap-cli',
    'logging.format': 'text',
    'bosh.director.url': 'https://10.0.0.6:25555',
    'bosh.director.ca': pem('ca.crt'),
    'bosh.director.skip_tls_verify': false,
    'bosh.director.timeout_seconds': 20,
    'bosh.uaa.url': 'https://10.0.0.6:8443',
    'bosh.uaa.ca': pem('ca.crt'),
    'bosh.uaa.skip_tls_verify': false,
    'bosh.uaa.timeout_seconds': 20,
    'bosh.uaa.issuer': 'https://10.0.0.6:8443/oauth/token',
    'bosh.token_scopes': ['bosh.admin', 'bosh.read'],
    'health.sink_check_timeout_seconds': 3,
    'health.sink_check_interval_seconds': 30,
    'health.show_sink_reasons': true,
    'metrics.enabled': false,
    'metrics.app_labels': true,
    sinks: {
      captures: {
        kind: 's3',
        endpoint: 'https://s3.example.com',
        region: 'eu-central-1',
        bucket: 'pcap-captures',
        prefix: 'pcap/',
        credentials: { access_key_id: 'AKIAEXAMPLE', secret_access_key: 'not-a-real-secret' },
        force_path_style: true,
        part_size_bytes: 8_388_608,
        queue_size: 2,
        presign_seconds: 600,
        request_timeout_seconds: 30,
        retry: { abort_attempts: 3, abort_backoff_ms: 250, max_attempts: 5 },
        rotation: { max_bytes: 536_870_912 },
      },
    },
    'schedules.store.kind': 'postgres',
    'schedules.store.data_dir': '/var/vcap/store/pcap-api/unused',
    'schedules.store.url': 'postgres://pcap:secret@10.0.0.9:5432/pcap',
    'schedules.store.ca': pem('ca.crt'),
    'schedules.store.pool_size': 8,
    'schedules.uaa_client.id': 'pcap-scheduler',
    'schedules.uaa_client.secret': 'not-a-real-secret',
    'schedules.tick_seconds': 2,
    'schedules.lease_seconds': 45,
    'schedules.missed_after_seconds': 120,
    'schedules.min_interval_seconds': 600,
    'schedules.max_duration_seconds': 1800,
    'schedules.max_bytes': 536_870_912,
    'schedules.max_per_app': 5,
    'schedules.max_per_user': 10,
    'schedules.runs_kept': 100,
  });

  it('renders the minimal properties into a config ApiConfig accepts, with certificate files the API can use', () => {
    const out = renderOk('pcap-api', { properties: nested(required()) });
    const config = ApiConfig.load(join(out.dir, 'config', 'api.yml'));
    expect(config.uaa.url).toBe('https://uaa.sys.example.com');
    expect(config.agents.mtls.certificate).toBe('/var/vcap/jobs/pcap-api/config/certs/agents-mtls.crt');
    expect(config.agents.port).toBe(9494);
    expect(config.listen).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(config.drainTimeoutSeconds).toBe(30);

    const tls = readApiTls(ApiConfig.load(rerooted('pcap-api', out.dir)));
    expect(tls.agents.cert.toString()).toBe(pem('api-client.crt'));
    expect(tls.server).toBeUndefined();
    expect(tls.uaaCa).toBeUndefined();
    expect(() =>
      createSecureContext({ key: tls.agents.key, cert: tls.agents.cert, ca: tls.agents.ca }),
    ).not.toThrow();
  });

  it('renders every spec property into the config key of the same name, accepted by ApiConfig', () => {
    const values = every();
    expect(Object.keys(values).sort()).toEqual(Object.keys(spec.properties).sort());
    const out = renderOk('pcap-api', { properties: nested(values) });
    const loaded = ApiConfig.load(join(out.dir, 'config', 'api.yml')).data;
    const tls = readApiTls(ApiConfig.load(rerooted('pcap-api', out.dir)));
    expect(tls.server?.cert.toString()).toBe(pem('agent.crt'));
    expect(tls.uaaCa?.toString()).toBe(pem('ca.crt'));
    expect(tls.ccCa?.toString()).toBe(pem('ca.crt'));
    for (const [name, value] of Object.entries(values)) {
      if (name === 'listen.tls.enabled') continue; // a switch of the template, not a config key
      if (name === 'schedules.store.data_dir') continue; // sqlite only: its own test below
      const configured = getPath(loaded, name);
      if (typeof value === 'string' && value.includes('-----BEGIN')) {
        const file = String(configured).replace('/var/vcap/jobs/pcap-api', out.dir);
        expect([name, readFileSync(file, 'utf8')]).toEqual([name, value]);
      } else {
        expect([name, configured]).toEqual([name, value]);
      }
    }
  });

  it('renders scheduled captures on SQLite with the persistent-disk default, and leaves them off without a store', () => {
    const values = {
      ...required(),
      sinks: {
        captures: {
          kind: 's3',
          bucket: 'pcap-captures',
          credentials: { access_key_id: 'a', secret_access_key: 'b' },
        },
      },
      'schedules.store.kind': 'sqlite',
      'schedules.uaa_client.id': 'pcap-scheduler',
      'schedules.uaa_client.secret': 'not-a-real-secret',
    };
    const out = renderOk('pcap-api', { properties: nested(values) });
    const schedules = ApiConfig.load(join(out.dir, 'config', 'api.yml')).schedules;
    expect(schedules?.store).toEqual({ kind: 'sqlite', data_dir: '/var/vcap/store/pcap-api/schedules' });
    expect(schedules?.tick_seconds).toBe(1);
    const off = renderOk('pcap-api', { properties: nested(required()) });
    expect(ApiConfig.load(join(off.dir, 'config', 'api.yml')).schedules).toBeUndefined();
  });

  it('declares a property for every key of the config schema that has a value by default', () => {
    const out = renderOk('pcap-api', { properties: nested(required()) });
    const declared = Object.keys(spec.properties);
    const keys = leafPaths(ApiConfig.load(join(out.dir, 'config', 'api.yml')).data, declared);
    expect(keys.filter((key) => !declared.includes(key))).toEqual([]);
  });

  it("gives the app's own defaults as spec defaults", () => {
    const app = ApiConfig.fromObject({
      uaa: { url: 'https://uaa.example.com' },
      cloud_controller: { url: 'https://api.example.com' },
      agents: { mtls: { certificate: '/c', private_key: '/k', ca: '/ca' } },
    }).data;
    // listen.tls.enabled is a switch of the template, not a config key; cli.binaries_dir defaults to the release's
    // pcap-cli package (next test), the app to serving nothing.
    const defaults = Object.entries(spec.properties).filter(
      ([name, d]) => d?.default !== undefined && !['listen.tls.enabled', 'cli.binaries_dir'].includes(name),
    );
    expect(defaults.length).toBeGreaterThan(20);
    for (const [name, definition] of defaults)
      expect([name, getPath(app, name)]).toEqual([name, definition?.default]);
  });

  it("serves the pcap-cli package's bin/ by default, another folder given, and nothing with ''", () => {
    type Bpm = { processes: { unsafe?: { unrestricted_volumes: { path: string }[] } }[] };
    const out = renderOk('pcap-api', { properties: nested(required()) });
    expect(spec.packages).toContain('pcap-cli');
    expect(ApiConfig.load(join(out.dir, 'config', 'api.yml')).cli.binaries_dir).toBe(
      '/var/vcap/packages/pcap-cli/bin',
    );
    // bpm mounts /var/vcap/packages already; another folder needs a volume.
    expect((parseYaml(out.read('config/bpm.yml')) as Bpm).processes[0]?.unsafe).toBeUndefined();
    const other = renderOk('pcap-api', {
      properties: nested({ ...required(), 'cli.binaries_dir': '/var/vcap/store/pcap-cli' }),
    });
    expect(ApiConfig.load(join(other.dir, 'config', 'api.yml')).cli.binaries_dir).toBe(
      '/var/vcap/store/pcap-cli',
    );
    expect((parseYaml(other.read('config/bpm.yml')) as Bpm).processes[0]?.unsafe).toEqual({
      unrestricted_volumes: [{ path: '/var/vcap/store/pcap-cli' }],
    });
    const off = renderOk('pcap-api', { properties: nested({ ...required(), 'cli.binaries_dir': '' }) });
    expect(ApiConfig.load(join(off.dir, 'config', 'api.yml')).cli.binaries_dir).toBeUndefined();
    expect(getPath(parseYaml(off.read('config/api.yml')), 'cli')).toBeUndefined();
    expect((parseYaml(off.read('config/bpm.yml')) as Bpm).processes[0]?.unsafe).toBeUndefined();
  });

  it('takes the agents port from a consumed pcap-agent link when agents.port is not set', () => {
    const link = {
      instances: [
        { name: 'diego-cell', id: 'c1', index: 0, az: 'z1', address: '10.0.16.5', bootstrap: true },
      ],
      properties: { listen: { port: 9595 } },
    };
    const out = renderOk('pcap-api', { properties: nested(required()), links: { 'pcap-agent': link } });
    expect(ApiConfig.load(join(out.dir, 'config', 'api.yml')).agents.port).toBe(9595);
    const explicit = renderOk('pcap-api', {
      properties: nested({ ...required(), 'agents.port': 9696 }),
      links: { 'pcap-agent': link },
    });
    expect(ApiConfig.load(join(explicit.dir, 'config', 'api.yml')).agents.port).toBe(9696);
  });

  it.each([
    'uaa.url',
    'cloud_controller.url',
    'agents.mtls.certificate',
    'agents.mtls.private_key',
    'agents.mtls.ca',
  ])('fails rendering without the required property %s, naming it', (name) => {
    const properties = required();
    delete properties[name];
    expect(renderError('pcap-api', { properties: nested(properties) })).toContain(
      `Can't find property '${name}'`,
    );
  });

  it('fails rendering when TLS is enabled without its certificate or key', () => {
    const none = renderError('pcap-api', {
      properties: nested({ ...required(), 'listen.tls.enabled': true }),
    });
    expect(none).toContain(
      'listen.tls.enabled is true but listen.tls.certificate and listen.tls.private_key are not set to PEM text',
    );
    const noKey = renderError('pcap-api', {
      properties: nested({
        ...required(),
        'listen.tls.enabled': true,
        'listen.tls.certificate': pem('agent.crt'),
      }),
    });
    expect(noKey).toContain('listen.tls.enabled is true but listen.tls.private_key is not set to PEM text');
    const empty = renderError('pcap-api', { properties: nested({ ...required(), 'agents.mtls.ca': '' }) });
    expect(empty).toContain('agents.mtls.ca must be PEM text');
  });

  it('leaves value checks to the app: a rendered config with conflicting keys is refused by ApiConfig', () => {
    const out = renderOk('pcap-api', {
      properties: nested({ ...required(), 'uaa.ca': pem('ca.crt'), 'uaa.skip_tls_verify': true }),
    });
    expect(() => ApiConfig.load(join(out.dir, 'config', 'api.yml'))).toThrow(
      /uaa\.skip_tls_verify: give either ca or skip_tls_verify, not both/,
    );
  });

  it('runs the built API from the pcap package with the rendered config under bpm', () => {
    const out = renderOk('pcap-api', { properties: nested(required()) });
    const bpm = parseYaml(out.read('config/bpm.yml')) as {
      processes: { name: string; executable: string; args: string[]; env: Record<string, string> }[];
    };
    expect(bpm.processes).toHaveLength(1);
    const [process] = bpm.processes;
    expect(process?.name).toBe('pcap-api');
    expect(process?.executable).toBe('/var/vcap/packages/node/bin/node');
    expect(process?.args).toEqual([
      '--max-semi-space-size=4',
      '--initial-old-space-size=64',
      '/var/vcap/packages/pcap/dist/apps/api/apps/api/src/main.js',
      `/var/vcap/jobs/pcap-api/${spec.templates['api.yml.erb']}`,
    ]);
    // The path nest build writes the API's entry point to (nest-cli.json entryFile under dist/apps/api).
    const nest = JSON.parse(readFileSync(join(RELEASE, '..', 'nest-cli.json'), 'utf8')) as {
      projects: Record<string, { entryFile: string }>;
    };
    expect(process?.args[2]).toBe(
      `/var/vcap/packages/pcap/dist/apps/api/${nest.projects['api']?.entryFile}.js`,
    );
    expect(process?.env['LD_LIBRARY_PATH']).toBe('/var/vcap/packages/libpcap/lib');
    expect(out.read('bin/drain')).toMatch(/^#!\/usr\/bin\/env bash\n/);
    expect(out.read('bin/drain')).toContain('wait_seconds=45\n');
  });
});

describe('pcap-agent job', () => {
  const spec = jobSpec('pcap-agent');
  const required = (): Record<string, unknown> => ({
    'tls.certificate': pem('agent.crt'),
    'tls.private_key': pem('agent.key'),
    'tls.client_ca': pem('ca.crt'),
  });
  const every = (): Record<string, unknown> => ({
    ...required(),
    'listen.host': '127.0.0.1',
    'listen.port': 9595,
    'tls.client_common_names': ['pcap-api.service.cf.internal'],
    'cell.name': 'cell-7',
    'cell.container_store': '/var/vcap/data/cm/store.json',
    'cell.runc_binary': '/opt/runc/bin/runc',
    'cell.runc_root': '/run/runc-garden',
    'cell.runc_timeout_seconds': 7,
    'capture.default_device': 'lo',
    'capture.snaplen_default': 1500,
    'capture.snaplen_max': 9000,
    'capture.buffer_size': 4_194_304,
    'capture.buffer_size_max': 33_554_432,
    'capture.max_concurrent': 4,
    'capture.immediate': true,
    'capture.block_timeout_ms': 100,
    'capture.isolation': 'in-process',
    'capture.gc_pacing_bytes': 8_388_608,
    'capture.max_duration_seconds': 1800,
    'capture.drain_timeout_seconds': 20,
    'queue.high_watermark': 16_777_216,
    'queue.low_watermark': 8_388_608,
    'metrics.listen.host': '10.0.16.5',
    'metrics.listen.port': 9495,
    'metrics.app_labels': true,
  });

  it('renders the minimal properties into a config AgentConfig accepts, naming the cell after the instance', () => {
    const out = renderOk('pcap-agent', { properties: nested(required()), spec: SPEC });
    const config = AgentConfig.load(join(out.dir, 'config', 'agent.yml'));
    expect(config.cell.name).toBe(`diego-cell/${SPEC.id}`);
    expect(config.cell.runc_binary).toBe('/var/vcap/packages/runc/bin/runc');
    expect(config.listen.port).toBe(9494);
    expect(config.tls.client_common_names).toBeUndefined();
    const tls = readAgentTls(AgentConfig.load(rerooted('pcap-agent', out.dir)));
    expect(tls.cert.toString()).toBe(pem('agent.crt'));
    expect(() => createSecureContext({ key: tls.key, cert: tls.cert, ca: tls.ca })).not.toThrow();
  });

  it('renders every spec property into the config key of the same name, accepted by AgentConfig', () => {
    const values = every();
    expect(Object.keys(values).sort()).toEqual(Object.keys(spec.properties).sort());
    const out = renderOk('pcap-agent', { properties: nested(values), spec: SPEC });
    const loaded = AgentConfig.load(join(out.dir, 'config', 'agent.yml')).data;
    readAgentTls(AgentConfig.load(rerooted('pcap-agent', out.dir)));
    for (const [name, value] of Object.entries(values)) {
      const configured = getPath(loaded, name);
      if (typeof value === 'string' && value.includes('-----BEGIN')) {
        expect(readFileSync(String(configured).replace('/var/vcap/jobs/pcap-agent', out.dir), 'utf8')).toBe(
          value,
        );
      } else {
        expect([name, configured]).toEqual([name, value]);
      }
    }
  });

  it('declares a property for every key of the config schema that has a value by default', () => {
    const out = renderOk('pcap-agent', { properties: nested(required()), spec: SPEC });
    const declared = Object.keys(spec.properties);
    const keys = leafPaths(AgentConfig.load(join(out.dir, 'config', 'agent.yml')).data, declared);
    expect(keys.filter((key) => !declared.includes(key))).toEqual([]);
  });

  it("gives the app's own defaults as spec defaults, except the cell's runc path", () => {
    const app = AgentConfig.fromObject({
      tls: { certificate: '/c', private_key: '/k', client_ca: '/ca' },
    }).data;
    const defaults = Object.entries(spec.properties).filter(([, d]) => d?.default !== undefined);
    expect(defaults.length).toBeGreaterThan(15);
    for (const [name, definition] of defaults) {
      if (name === 'cell.runc_binary') continue; // the app's default is `runc` on PATH; on a Diego cell it is this
      expect([name, getPath(app, name)]).toEqual([name, definition?.default]);
    }
  });

  it.each(['tls.certificate', 'tls.private_key', 'tls.client_ca'])(
    'fails rendering without %s (the agent serves mTLS only), naming it',
    (name) => {
      const properties = required();
      delete properties[name];
      expect(renderError('pcap-agent', { properties: nested(properties), spec: SPEC })).toContain(
        `Can't find property '${name}'`,
      );
      expect(
        renderError('pcap-agent', { properties: nested({ ...properties, [name]: ' ' }), spec: SPEC }),
      ).toContain(
        `${name} must be PEM text (-----BEGIN ...); the agent serves mTLS only, got an empty value`,
      );
    },
  );

  it('leaves value checks to the app: a rendered config with a bad device is refused by AgentConfig', () => {
    const out = renderOk('pcap-agent', {
      properties: nested({ ...required(), 'capture.default_device': 'eth0:1' }),
      spec: SPEC,
    });
    expect(() => AgentConfig.load(join(out.dir, 'config', 'agent.yml'))).toThrow(
      /capture\.default_device: device/,
    );
  });

  it('runs privileged in the host PID namespace with the cell paths mounted', () => {
    type Process = {
      args: string[];
      unsafe: { privileged: boolean; host_pid_namespace: boolean; unrestricted_volumes: unknown[] };
    };
    const bpmOf = (out: Extract<RenderResult, { ok: true }>): Process =>
      (parseYaml(out.read('config/bpm.yml')) as { processes: Process[] }).processes[0] as Process;
    const defaults = bpmOf(renderOk('pcap-agent', { properties: nested(required()), spec: SPEC }));
    expect(defaults.args).toEqual([
      '--max-semi-space-size=2',
      '/var/vcap/packages/pcap/dist/apps/agent/apps/agent/src/main.js',
      `/var/vcap/jobs/pcap-agent/${spec.templates['agent.yml.erb']}`,
    ]);
    expect(defaults.unsafe).toEqual({
      privileged: true,
      host_pid_namespace: true,
      unrestricted_volumes: [
        { path: '/var/vcap/data/container-metadata' },
        { path: '/run/containerd/runc/garden' },
      ],
    });
    const custom = bpmOf(renderOk('pcap-agent', { properties: nested(every()), spec: SPEC }));
    expect(custom.unsafe.unrestricted_volumes).toEqual([
      { path: '/var/vcap/data/cm' },
      { path: '/run/runc-garden' },
      { path: '/opt/runc/bin', allow_executions: true },
    ]);
  });
});

describe('drain scripts', () => {
  it("are the same script in both jobs (bosh/test/drain.e2e-spec.ts runs the agent's), waiting drain timeout + 15 s", () => {
    const api = renderOk('pcap-api', {
      properties: nested({
        'uaa.url': 'https://uaa.example.com',
        'cloud_controller.url': 'https://api.example.com',
        'agents.mtls.certificate': pem('api-client.crt'),
        'agents.mtls.private_key': pem('api-client.key'),
        'agents.mtls.ca': pem('ca.crt'),
        drain_timeout_seconds: 40,
      }),
    }).read('bin/drain');
    const agent = renderOk('pcap-agent', {
      properties: nested({
        'tls.certificate': pem('agent.crt'),
        'tls.private_key': pem('agent.key'),
        'tls.client_ca': pem('ca.crt'),
        'capture.drain_timeout_seconds': 40,
      }),
      spec: SPEC,
    }).read('bin/drain');
    const code = (script: string): string[] => script.split('\n').filter((line) => !line.startsWith('# '));
    expect(code(api).map((line) => line.replaceAll('pcap-api', 'pcap-agent'))).toEqual(code(agent));
    expect(api).toContain('wait_seconds=55\n');
  });
});

describe('render.rb', () => {
  it('uses ERB trim mode "-" as BOSH does', () => {
    const source = '<%- [1, 2].each do |i| -%>\nline <%= i %>\n<%- end -%>\ndone\n';
    const out = execFileSync('ruby', ['-rerb', '-e', "print ERB.new(STDIN.read, trim_mode: '-').result"], {
      input: source,
      encoding: 'utf8',
    });
    expect(out).toBe('line 1\nline 2\ndone\n');
    expect(execFileSync('ruby', ['-v'], { encoding: 'utf8' })).toMatch(/^ruby (\d+)\.(\d+)/);
  });

  it('refuses a property the job spec does not declare, as the director does', () => {
    const dir = mkdtempSync(join(work, 'job-'));
    const job = join(dir, 'demo');
    execFileSync('mkdir', ['-p', join(job, 'templates')]);
    writeFileSync(
      join(job, 'spec'),
      'name: demo\ntemplates: {t.erb: out/t}\nproperties:\n  a.b: {description: x, default: 1}\n  c: {description: y}\n',
    );
    writeFileSync(join(job, 'templates', 't.erb'), "<%= p('a.b') %>/<%= p('c', 'none') %>/<%= p('z') %>\n");
    const ctx = join(dir, 'ctx.json');
    writeFileSync(ctx, JSON.stringify({ properties: { z: 1, a: { b: 5 } } }));
    const run = (): string => {
      try {
        execFileSync('ruby', [join(RELEASE, 'test', 'render.rb'), job, ctx, join(dir, 'out')], {
          stdio: 'pipe',
        });
        return 'rendered';
      } catch (err) {
        return String((err as { stderr: Buffer }).stderr);
      }
    };
    expect(run()).toContain("Error filling in template 't.erb' for 'demo/0': Can't find property 'z'");
    writeFileSync(join(job, 'templates', 't.erb'), "<%= p('a.b') %>/<%= p('c', 'none') %>\n");
    expect(run()).toBe('rendered');
    expect(readFileSync(join(dir, 'out', 'out', 't'), 'utf8')).toBe('5/none\n');

    // spec and links as templates see them; a link the spec does not consume does not exist.
    writeFileSync(
      join(job, 'spec'),
      'name: demo\ntemplates: {t.erb: out/t}\nconsumes: [{name: peer, type: peer}, {name: other, type: other, optional: true}]\n' +
        'properties: {c: {description: y}}\n',
    );
    writeFileSync(
      join(job, 'templates', 't.erb'),
      [
        '<%= spec.name %>/<%= spec.id %>/<%= spec.index %>/<%= spec.address %>/<%= spec.ip %>/<%= spec.az %>/',
        '<%= spec.deployment %>/<%= spec.bootstrap %>|<%= link("peer").instances.map(&:address).join(",") %>|',
        '<%= link("peer").p("port") %>|<%= link("peer").p("missing", "dflt") %>|',
        '<%- if_link("other") { |l| -%>other<%- }.else { -%>no other<%- } -%>|',
        '<%- if_p("c") { |c| -%>c=<%= c %><%- }.else { -%>no c<%- } -%>\n',
      ].join(''),
    );
    const instance = (i: number): Record<string, unknown> => ({
      name: 'peer',
      id: `p${i}`,
      index: i,
      az: 'z1',
      address: `10.0.1.${i}`,
      bootstrap: i === 0,
    });
    writeFileSync(
      ctx,
      JSON.stringify({
        properties: {},
        spec: {
          name: 'grp',
          id: 'abc',
          index: 3,
          address: 'a.b',
          ip: '10.0.0.3',
          az: 'z3',
          deployment: 'd',
          bootstrap: false,
        },
        links: {
          peer: { instances: [instance(0), instance(1)], properties: { port: 7 } },
          other: { instances: [], properties: {} },
          unconsumed: { instances: [], properties: {} },
        },
      }),
    );
    expect(run()).toBe('rendered');
    expect(readFileSync(join(dir, 'out', 'out', 't'), 'utf8')).toBe(
      'grp/abc/3/a.b/10.0.0.3/z3/d/false|10.0.1.0,10.0.1.1|7|dflt|other|no c', // '-%>' ate the newline
    );
    writeFileSync(join(job, 'templates', 't.erb'), '<%= link("unconsumed").instances.size %>');
    expect(run()).toContain("Can't find link 'unconsumed'");
  });
});
