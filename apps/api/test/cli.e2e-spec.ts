/**
 * `GET /cli/<file>`: files of `cli.binaries_dir` are served as they are; nothing outside that folder ever is,
 * whatever the spelling (`..`, absolute paths, percent-encoded separators, symlinks are not followed out by name).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  apiConfigObject,
  ApiTestCerts,
  baseModel,
  call,
  type CfWorld,
  startCfWorld,
} from '../../../test/support/api-harness';
import { ApiUnderTest } from './api-under-test';

/** Sends `path` byte for byte (no URL normalisation by the client). */
function rawGet(port: number, path: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('GET /cli/<file>', () => {
  let world: CfWorld | undefined;
  let certs: ApiTestCerts | undefined;
  let api: ApiUnderTest | undefined;
  let noDir: ApiUnderTest | undefined;
  let dir: string | undefined;
  const secret = `outside-${Date.now()}-secret`;
  const binary = Buffer.from(Array.from({ length: 70000 }, (_, i) => (i * 7) & 0xff));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'api-cli-'));
    const bins = join(dir, 'bins');
    mkdirSync(bins);
    mkdirSync(join(bins, 'sub'));
    writeFileSync(join(bins, 'pcap-cli-linux-amd64'), binary);
    writeFileSync(join(bins, 'sub', 'nested'), 'nested');
    writeFileSync(join(dir, 'outside.txt'), secret);
    certs = ApiTestCerts.create();
    world = await startCfWorld(baseModel([]));
    api = await ApiUnderTest.start(apiConfigObject(world, certs, { cli: { binaries_dir: bins } }));
    noDir = await ApiUnderTest.start(apiConfigObject(world, certs));
  }, 60000);

  afterAll(async () => {
    await api?.close().catch(() => undefined);
    await noDir?.close().catch(() => undefined);
    await world?.stop();
    certs?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves a file of the folder byte for byte, without a token', async () => {
    const res = await call(`${api!.url}/cli/pcap-cli-linux-amd64`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/octet-stream');
    expect(res.headers['content-disposition']).toBe('attachment; filename="pcap-cli-linux-amd64"');
    expect(Number(res.headers['content-length'])).toBe(binary.length);
    expect(res.body.equals(binary)).toBe(true);
  });

  it('an unknown file, a folder, or no configured folder: 404', async () => {
    expect((await call(`${api!.url}/cli/nope`)).status).toBe(404);
    expect((await call(`${api!.url}/cli/sub`)).status).toBe(404);
    expect((await call(`${noDir!.url}/cli/pcap-cli-linux-amd64`)).status).toBe(404);
  });

  it.each([
    '/cli/../outside.txt',
    '/cli/..%2foutside.txt',
    '/cli/..%2Foutside.txt',
    '/cli/%2e%2e%2foutside.txt',
    '/cli/%2e%2e/outside.txt',
    '/cli/..%5coutside.txt',
    '/cli/sub%2fnested',
    '/cli/sub/nested',
    '/cli/..',
    '/cli/.',
    '/cli/%2Fetc%2Fpasswd',
    '/cli//etc/passwd',
    '/cli/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/cli/pcap-cli-linux-amd64%00.txt',
    '/cli/..%252foutside.txt',
  ])('%s: 400 or 404, never a file outside the folder', async (path) => {
    const res = await rawGet(api!.port, path);
    expect([400, 404]).toContain(res.status);
    expect(res.body.toString('latin1')).not.toContain(secret);
    expect(res.body.toString('latin1')).not.toContain('root:');
    expect(res.body.toString('latin1')).not.toContain('nested\n');
  });
});
