import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { buildCliArtifacts, cliArtifactNames } from '../../cli/build/cli-artifacts';
import { CLI_VERSION_TEXT } from '../../cli/src/core/version';
import { baseModel, startCfWorld, type CfWorld } from '../../test/support/api-harness';
import { RELEASE, renderJob } from './support/bosh-release';
import { startVcapJob, type VcapJob } from './support/vcap-layout';

const ADD_CLI_BLOBS = join(RELEASE, 'scripts', 'add-cli-blobs.sh');
const PACKAGING = join(RELEASE, 'packages', 'pcap-cli', 'packaging');
const NAMES = cliArtifactNames();

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

/** GET over plain HTTP: status and the SHA-256 of the body. */
function fetchSha256(port: number, path: string): Promise<{ status: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path }, (res) => {
      const hash = createHash('sha256');
      res.on('data', (chunk: Buffer) => hash.update(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, sha256: hash.digest('hex') }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/**
 * The pcap-cli package end to end: a real `build:cli` (every target), bosh/scripts/add-cli-blobs.sh staging the
 * files as blobs, the packaging script run as on a compilation VM (the blobs dir as its working dir, a temp
 * BOSH_INSTALL_TARGET), and the API started from the pcap-api job rendered with its defaults serving them.
 */
describe('pcap-cli package', () => {
  let work: string;
  let built: string;
  /** bosh/blobs/ of a temp release dir, as a compilation VM's working dir holds the package's files. */
  let blobs: string;
  let install: string;
  let world: CfWorld | undefined;
  let api: VcapJob | undefined;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'bosh-cli-'));
    built = join(work, 'built');
    await buildCliArtifacts(built);
  }, 600_000);
  afterAll(async () => {
    api?.kill();
    await world?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** Runs the packaging script in a compile dir holding hard links to the staged blobs `keep` lets through. */
  function compile(
    name: string,
    keep: (file: string) => boolean = () => true,
    change?: (dir: string) => void,
  ): { status: number | null; stdout: string; stderr: string; target: string } {
    const dir = join(work, `compile-${name}`);
    mkdirSync(join(dir, 'pcap-cli'), { recursive: true });
    for (const file of readdirSync(join(blobs, 'pcap-cli')).filter(keep))
      linkSync(join(blobs, 'pcap-cli', file), join(dir, 'pcap-cli', file));
    change?.(join(dir, 'pcap-cli'));
    const target = join(work, `install-${name}`);
    mkdirSync(target);
    const result = spawnSync('bash', [PACKAGING], {
      cwd: dir,
      env: { ...process.env, BOSH_INSTALL_TARGET: target },
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr, target };
  }

  /** Replaces `file` (a hard link into the staged blobs) with other content, leaving the blob as it was. */
  const replace =
    (file: string, content: (old: Buffer) => Buffer) =>
    (dir: string): void => {
      const old = readFileSync(join(dir, file));
      unlinkSync(join(dir, file));
      writeFileSync(join(dir, file), content(old));
    };

  it('add-cli-blobs.sh (no bosh CLI) stages exactly the files of the build as blobs/pcap-cli/*', () => {
    expect(readdirSync(built).sort()).toEqual(NAMES);
    const release = join(work, 'release');
    mkdirSync(release);
    const out = execFileSync(ADD_CLI_BLOBS, ['--from', built], {
      env: { PATH: '/usr/bin:/bin', PCAP_RELEASE_DIR: release },
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(out).toContain(
      `add-cli-blobs: no bosh CLI; ${NAMES.length} files copied to ${release}/blobs/pcap-cli/`,
    );
    blobs = join(release, 'blobs');
    expect(readdirSync(join(blobs, 'pcap-cli')).sort()).toEqual(NAMES);
    for (const name of NAMES)
      expect([name, sha256(join(blobs, 'pcap-cli', name))]).toEqual([name, sha256(join(built, name))]);
  });

  it('add-cli-blobs.sh refuses a build missing a file, naming it', () => {
    const partial = join(work, 'partial');
    mkdirSync(partial);
    for (const name of NAMES.filter((n) => n !== 'pcap-darwin-arm64'))
      linkSync(join(built, name), join(partial, name));
    const result = spawnSync(ADD_CLI_BLOBS, ['--from', partial], {
      env: { PATH: '/usr/bin:/bin', PCAP_RELEASE_DIR: join(work, 'release-partial') },
      encoding: 'utf8',
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`add-cli-blobs: ${partial}/pcap-darwin-arm64 is missing or empty`);
    expect(existsSync(join(work, 'release-partial'))).toBe(false);
  });

  it('the packaging script installs them into bin/, checked against SHA256SUMS, the Linux executables run', () => {
    const result = compile('ok');
    expect([result.status, result.stderr]).toEqual([0, '']);
    expect(result.stdout).toBe(`pcap-cli: pcap ${CLI_VERSION_TEXT}; the plugin runs\n`);
    install = result.target;
    const bin = join(install, 'bin');
    expect(readdirSync(bin).sort()).toEqual(NAMES);
    for (const name of NAMES) {
      expect([name, sha256(join(bin, name))]).toEqual([name, sha256(join(built, name))]);
      expect([name, statSync(join(bin, name)).mode & 0o777]).toEqual([
        name,
        name === 'SHA256SUMS' ? 0o644 : 0o755,
      ]);
    }
  });

  it.each(NAMES)('the packaging script fails naming a missing %s, installing nothing', (name) => {
    const result = compile(`missing-${name}`, (file) => file !== name);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      `pcap-cli: missing or empty blob(s): pcap-cli/${name} (run scripts/add-cli-blobs.sh before bosh create-release)\n`,
    );
    expect(readdirSync(result.target)).toEqual([]);
  });

  it('the packaging script fails on an empty file and on a file of another build', () => {
    const empty = compile(
      'empty',
      undefined,
      replace('pcap-cli-linux-amd64', () => Buffer.alloc(0)),
    );
    expect(empty.status).toBe(1);
    expect(empty.stderr).toContain('missing or empty blob(s): pcap-cli/pcap-cli-linux-amd64 ');
    const other = compile(
      'other',
      undefined,
      replace('pcap.js', (old) => Buffer.concat([old, Buffer.from('// another build\n')])),
    );
    expect(other.status).toBe(1);
    expect(other.stderr).toContain('pcap.js: FAILED');
    expect(other.stderr).toContain('pcap-cli: the blobs do not match pcap-cli/SHA256SUMS');
    for (const result of [empty, other]) expect(readdirSync(result.target)).toEqual([]);
  });

  it('pcap-api rendered with its defaults serves the installed files under /cli/', async () => {
    execFileSync(join(RELEASE, '..', 'scripts', 'gen-certs.sh'), [join(work, 'certs')], { stdio: 'ignore' });
    const pem = (file: string): string => readFileSync(join(work, 'certs', file), 'utf8');
    world = await startCfWorld(baseModel([]));
    const rendered = renderJob(
      'pcap-api',
      {
        properties: {
          listen: { host: '127.0.0.1', port: 0 },
          uaa: { url: world.uaa.url },
          cloud_controller: { url: world.cc.url },
          agents: {
            mtls: {
              certificate: pem('api-client.crt'),
              private_key: pem('api-client.key'),
              ca: pem('ca.crt'),
            },
          },
          logging: { format: 'text' },
        },
      },
      work,
    );
    if (!rendered.ok) throw new Error(rendered.error);
    expect(rendered.read('config/api.yml')).toContain('"binaries_dir": "/var/vcap/packages/pcap-cli/bin"');
    api = await startVcapJob('pcap-api', rendered.dir, 'api', { 'pcap-cli': install });
    for (const name of ['pcap-cli-linux-amd64', 'pcap-cli-darwin-arm64', 'pcap.js', 'SHA256SUMS']) {
      const got = await fetchSha256(api.port, `/cli/${name}`);
      expect([name, got]).toEqual([name, { status: 200, sha256: sha256(join(built, name)) }]);
    }
    expect((await fetchSha256(api.port, '/cli/pcap-windows-amd64.exe')).status).toBe(404);
  }, 120_000);
});
