import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { cliArtifactNames } from '../../cli/build/cli-artifacts';
import { applyOps, type Operation } from './support/go-patch';
import {
  RELEASE,
  getPath,
  jobSpec,
  readYaml,
  undeclaredProperties,
  type JobSpec,
} from './support/bosh-release';

interface ManifestJob {
  name: string;
  release: string;
  properties?: Record<string, unknown>;
}
interface Manifest {
  releases: { name: string; version: string }[];
  instance_groups: { name: string; jobs: ManifestJob[] }[];
  variables?: { name: string; type: string; options?: { ca?: string } }[];
}

const MANIFESTS = join(RELEASE, 'manifests');
const OURS = readdirSync(join(RELEASE, 'jobs'));

const manifest = (): Manifest => readYaml(join(MANIFESTS, 'pcap-api.yml')) as Manifest;
const ops = (name: string): Operation[] => readYaml(join(MANIFESTS, 'ops-files', name)) as Operation[];

/** The shape of cf-deployment the agent ops file patches: a diego-cell with bpm among other releases. */
function cfDeployment(): Manifest {
  return {
    releases: [
      { name: 'bpm', version: '1.2.0' },
      { name: 'garden-runc', version: '1.50.0' },
      { name: 'diego', version: '2.100.0' },
    ],
    instance_groups: [
      { name: 'router', jobs: [{ name: 'gorouter', release: 'routing' }] },
      {
        name: 'diego-cell',
        jobs: [
          { name: 'bpm', release: 'bpm' },
          { name: 'garden', release: 'garden-runc' },
          { name: 'rep', release: 'diego' },
        ],
      },
    ],
    variables: [{ name: 'diego_ca', type: 'certificate' }],
  };
}

/** Every job of the release `pcap` names a job of bosh/jobs and sets only properties its spec declares. */
function checkOurJobs(m: Manifest): string[] {
  return m.instance_groups.flatMap((group) =>
    group.jobs
      .filter((job) => job.release === 'pcap')
      .flatMap((job) => {
        if (!OURS.includes(job.name)) return [`${group.name}/${job.name}: no such job in bosh/jobs`];
        return undeclaredProperties(jobSpec(job.name), job.properties ?? {}).map(
          (path) => `${group.name}/${job.name}: property '${path}' is not in the job spec`,
        );
      }),
  );
}

function jobIn(m: Manifest, group: string, job: string): ManifestJob {
  const found = m.instance_groups.find((g) => g.name === group)?.jobs.find((j) => j.name === job);
  if (!found) throw new Error(`no ${group}/${job}`);
  return found;
}

/** `((name))` references (first path segment), except the manifest's own generated variables. */
function varsUsed(text: string, declared: string[]): string[] {
  const names = [...text.matchAll(/\(\(([^)]+)\)\)/g)].map((m) => (m[1] as string).split('.')[0] as string);
  return [...new Set(names)].filter((name) => !declared.includes(name));
}

describe('manifests and ops files', () => {
  it('are valid YAML of the expected shapes', () => {
    for (const file of ['pcap-api.yml', 'vars-template.yml'])
      expect(() => readYaml(join(MANIFESTS, file))).not.toThrow();
    for (const file of readdirSync(join(MANIFESTS, 'ops-files'))) {
      const doc = ops(file);
      expect(Array.isArray(doc)).toBe(true);
      for (const op of doc) expect(['replace', 'remove']).toContain(op.type);
    }
  });

  it('pcap-api.yml uses only jobs and properties the specs declare, from releases it lists', () => {
    const m = manifest();
    expect(checkOurJobs(m)).toEqual([]);
    const releases = m.releases.map((r) => r.name);
    for (const group of m.instance_groups)
      for (const job of group.jobs) expect(releases).toContain(job.release);
    expect(m.instance_groups.map((g) => g.jobs.map((j) => j.name))).toEqual([['bpm', 'pcap-api']]);
  });

  it('add-pcap-agent.yml puts pcap-agent on the Diego cells with a CA shared with pcap-api, and re-applies cleanly', () => {
    const once = applyOps(cfDeployment(), ops('add-pcap-agent.yml')) as Manifest;
    const twice = applyOps(once, ops('add-pcap-agent.yml'));
    expect(twice).toEqual(once);
    expect(checkOurJobs(once)).toEqual([]);
    const agent = jobIn(once, 'diego-cell', 'pcap-agent');
    expect(agent.release).toBe('pcap');
    expect(once.releases.map((r) => r.name)).toContain('pcap');
    expect(jobIn(once, 'diego-cell', 'bpm').release).toBe('bpm'); // bpm.yml needs bpm beside it
    expect(once.instance_groups.find((g) => g.name === 'router')?.jobs.map((j) => j.name)).toEqual([
      'gorouter',
    ]);

    // The agent's server certificate and the API's client certificate come from the same absolute CA.
    const api = manifest();
    const caOf = (m: Manifest, name: string): string | undefined =>
      m.variables?.find((v) => v.name === name)?.options?.ca;
    expect(caOf(once, 'pcap_agent_tls')).toBe('/pcap_ca');
    expect(caOf(api, 'pcap_api_client_tls')).toBe('/pcap_ca');
    for (const m of [once, api]) expect(m.variables?.filter((v) => v.name === '/pcap_ca')).toHaveLength(1);
    expect(getPath(agent.properties, 'tls.client_ca')).toBe('((/pcap_ca.certificate))');
    expect(getPath(jobIn(api, 'pcap-api', 'pcap-api').properties, 'agents.mtls.ca')).toBe(
      '((/pcap_ca.certificate))',
    );

    // Names and ports agree across the two deployments.
    const apiProps = jobIn(api, 'pcap-api', 'pcap-api').properties;
    expect(getPath(agent.properties, 'tls.client_common_names')).toEqual(['pcap-api.service.cf.internal']);
    expect(api.variables?.find((v) => v.name === 'pcap_api_client_tls')).toMatchObject({
      options: { common_name: 'pcap-api.service.cf.internal', extended_key_usage: ['client_auth'] },
    });
    expect(once.variables?.find((v) => v.name === 'pcap_agent_tls')).toMatchObject({
      options: {
        common_name: getPath(apiProps, 'agents.mtls.server_name'),
        extended_key_usage: ['server_auth'],
      },
    });
    expect(getPath(agent.properties, 'listen.port')).toBe(getPath(apiProps, 'agents.port'));
  });

  it('expose-route-to-pcap-api.yml registers the API port pcap-api listens on through route_registrar', () => {
    const spec: JobSpec = jobSpec('pcap-api');
    const m = applyOps(manifest(), ops('expose-route-to-pcap-api.yml')) as Manifest;
    expect(applyOps(m, ops('expose-route-to-pcap-api.yml'))).toEqual(m);
    expect(checkOurJobs(m)).toEqual([]);
    expect(m.releases.map((r) => r.name)).toContain('routing');
    const registrar = jobIn(m, 'pcap-api', 'route_registrar');
    expect(registrar.release).toBe('routing');
    const routes = getPath(registrar.properties, 'route_registrar.routes') as {
      port: number;
      uris: string[];
    }[];
    const listenPort =
      getPath(jobIn(m, 'pcap-api', 'pcap-api').properties, 'listen.port') ??
      spec.properties['listen.port']?.default;
    expect(routes).toHaveLength(1);
    expect(routes[0]?.port).toBe(listenPort);
    expect(routes[0]?.uris).toEqual(['pcap.((system_domain))']);
  });

  it('vars-template.yml gives exactly the variables the manifest and its ops file use', () => {
    const template = Object.keys(readYaml(join(MANIFESTS, 'vars-template.yml')) as Record<string, unknown>);
    const text = ['pcap-api.yml', 'ops-files/expose-route-to-pcap-api.yml']
      .map((f) => readFileSync(join(MANIFESTS, f), 'utf8'))
      .join('\n');
    const declared = (manifest().variables ?? []).map((v) => v.name);
    expect(varsUsed(text, declared).sort()).toEqual([...template].sort());
    // The agent ops file uses only its own generated variables (cf-deployment's vars stay untouched).
    const agentOps = readFileSync(join(MANIFESTS, 'ops-files', 'add-pcap-agent.yml'), 'utf8');
    expect(varsUsed(agentOps, ['/pcap_ca', 'pcap_agent_tls'])).toEqual([]);
  });
});

describe('release layout', () => {
  it('each job lists existing templates and packages, and each package its dependencies', () => {
    const packages = readdirSync(join(RELEASE, 'packages'));
    for (const job of OURS) {
      const spec = jobSpec(job);
      expect(spec.name).toBe(job);
      expect(existsSync(join(RELEASE, 'jobs', job, 'monit'))).toBe(true);
      for (const source of Object.keys(spec.templates))
        expect(existsSync(join(RELEASE, 'jobs', job, 'templates', source))).toBe(true);
      for (const pkg of spec.packages) expect(packages).toContain(pkg);
      for (const [name, definition] of Object.entries(spec.properties))
        expect([name, typeof definition?.description]).toEqual([name, 'string']);
    }
    for (const pkg of packages) {
      const spec = readYaml(join(RELEASE, 'packages', pkg, 'spec')) as {
        name: string;
        dependencies?: string[];
        files: string[];
      };
      expect(spec.name).toBe(pkg);
      expect(existsSync(join(RELEASE, 'packages', pkg, 'packaging'))).toBe(true);
      for (const dep of spec.dependencies ?? []) expect(packages).toContain(dep);
      expect(spec.files.length).toBeGreaterThan(0);
    }
  });

  it("the pcap package's source globs name what scripts/sync-src.sh copies from the repository", () => {
    const spec = readYaml(join(RELEASE, 'packages', 'pcap', 'spec')) as { files: string[] };
    const sources = spec.files.filter((f) => f.startsWith('pcap/'));
    expect(sources.length).toBeGreaterThan(0);
    for (const glob of sources) {
      const fixed = glob.slice('pcap/'.length).split('/*')[0] as string;
      expect([glob, existsSync(join(RELEASE, '..', fixed))]).toEqual([glob, true]);
    }
    // The build the packaging script runs is the repository's own.
    const pkg = JSON.parse(readFileSync(join(RELEASE, '..', 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts['build']).toBe('nest build api && nest build agent');
    const packaging = readFileSync(join(RELEASE, 'packages', 'pcap', 'packaging'), 'utf8');
    expect(packaging).toContain('nest build api');
    expect(packaging).toContain('nest build agent');
    // Every target of the native build (the addon and the capture worker executable) is installed.
    const gyp = JSON.parse(
      readFileSync(join(RELEASE, '..', 'libs', 'capture', 'native', 'binding.gyp'), 'utf8'),
    ) as {
      targets: { target_name: string; type?: string }[];
    };
    const built = gyp.targets.map((t) => (t.type === 'executable' ? t.target_name : `${t.target_name}.node`));
    expect(built).toEqual(['pcap_capture.node', 'pcap_capture_worker']);
    for (const file of built)
      expect([file, packaging.includes(`build/Release/${file}`)]).toEqual([file, true]);
  });

  it('the pcap-cli package ships exactly the files build:cli makes, and pcap-api serves its bin/ by default', () => {
    const names = cliArtifactNames();
    expect(names).toContain('pcap-cli-linux-amd64');
    const spec = readYaml(join(RELEASE, 'packages', 'pcap-cli', 'spec')) as {
      files: string[];
      dependencies?: string[];
    };
    expect(spec.files).toEqual(names.map((name) => `pcap-cli/${name}`));
    expect(spec.dependencies).toBeUndefined();
    // The packaging script checks and installs the same list.
    const packaging = readFileSync(join(RELEASE, 'packages', 'pcap-cli', 'packaging'), 'utf8');
    const listed = /^files=\(\n([^)]*)\)/m.exec(packaging)?.[1];
    expect(
      listed
        ?.split('\n')
        .map((line) => line.trim())
        .filter(Boolean),
    ).toEqual(names);

    const api = jobSpec('pcap-api');
    expect(api.packages).toContain('pcap-cli');
    expect(api.properties['cli.binaries_dir']?.default).toBe('/var/vcap/packages/pcap-cli/bin');
  });
});
