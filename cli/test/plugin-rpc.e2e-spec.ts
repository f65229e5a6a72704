/**
 * The plugin as the cf CLI runs it, through a Go net/rpc server with the cf CLI's types (cli/test/go/fake-cf):
 * install (`SendMetadata`), uninstall, a command run with every RPC call recorded. Runs the real build output:
 * the Node SEA single executable (linux-x64, the same pipeline as the macOS ones) and the bundled
 * `#!/usr/bin/env node` file.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { buildCliArtifacts, type BuiltCli } from '../build/cli-artifacts';
import { FakeCf, type FakeCfState } from './support/fake-cf';

const LOGGED_OUT: FakeCfState = { loggedIn: false, apiEndpoint: 'https://api.sys.example.com' };
const NO_SPACE: FakeCfState = {
  loggedIn: true,
  apiEndpoint: 'https://api.sys.example.com',
  accessToken: 'bearer not-a-real-token',
};
const ALLOWED_CALLS = ['IsLoggedIn', 'ApiEndpoint', 'IsSSLDisabled', 'AccessToken', 'GetCurrentSpace'];

describe('cf CLI plugin protocol (Go net/rpc server standing in for cf)', () => {
  let fake: FakeCf;
  let dir: string;
  let built: BuiltCli;
  const plugins: Array<[string, () => string]> = [
    ['single executable (Node SEA)', () => built.files.get('pcap-cli-linux-amd64')!],
    ['bundled JavaScript file', () => built.files.get('pcap-cli.js')!],
  ];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cli-plugin-'));
    fake = FakeCf.build();
    built = await buildCliArtifacts(join(dir, 'cli'), { targets: ['linux-amd64'] });
  }, 180000);

  afterAll(() => {
    fake?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the build made a single executable for linux-x64 (Node.js from the npm registry) and a JS file with a node shebang', () => {
    expect(built.targets).toEqual(['linux-amd64']);
    const exe = built.files.get('pcap-cli-linux-amd64')!;
    expect(execFileSync('file', ['-b', exe], { encoding: 'utf8' })).toMatch(/ELF 64-bit.*x86-64/);
    const js = built.files.get('pcap-cli.js')!;
    expect(execFileSync('head', ['-c', '19', js], { encoding: 'utf8' })).toBe('#!/usr/bin/env node');
  });

  it.each(plugins)(
    '%s: SendMetadata answers SetPluginMetadata with what cf install-plugin checks, exit 0',
    async (_, plugin) => {
      const run = await fake.run(plugin(), ['SendMetadata'], LOGGED_OUT);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.record.calls).toEqual([{ method: 'SetPluginMetadata', arg: '' }]);
      const m = run.record.metadata as {
        Name: string;
        Version: { Major: number; Minor: number; Build: number };
        LibraryVersion: { Major: number };
        MinCliVersion: { Major: number; Minor: number };
        Commands: Array<{
          Name: string;
          Alias: string;
          HelpText: string;
          UsageDetails: { Usage: string; Options: Record<string, string> };
        }>;
      };
      // cf install-plugin refuses an empty name, no commands, or LibraryVersion.Major > 1.
      expect(m.Name).toBe('pcap');
      expect(m.LibraryVersion.Major).toBeLessThanOrEqual(1);
      expect(m.Version).toEqual({ Major: 0, Minor: 1, Build: 0 });
      expect(m.MinCliVersion).toEqual({ Major: 6, Minor: 7, Build: 0 });
      expect(m.Commands).toHaveLength(1);
      const c = m.Commands[0]!;
      expect(c.Name).toBe('pcap');
      expect(c.Alias).toBe('tcpdump');
      expect(c.HelpText).toMatch(/traffic/);
      expect(c.UsageDetails.Usage).toMatch(/^cf pcap APP \[-o FILE\|-\] \[-i all\|0,1,\.\.\]/);
      for (const flag of [
        'o, -file',
        'i, -instance',
        't, -type',
        'd, -device',
        'f, -filter',
        's, -snaplen',
        '-duration',
        '-max-bytes',
        '-max-packets',
        '-format',
        '-sink',
        '-force',
        '-api',
        'k, -insecure',
        'q, -quiet',
      ]) {
        expect(c.UsageDetails.Options[flag]).toEqual(expect.any(String));
      }
    },
  );

  it.each(plugins)('%s: CLI-MESSAGE-UNINSTALL exits 0 without calling cf', async (_, plugin) => {
    const run = await fake.run(plugin(), ['CLI-MESSAGE-UNINSTALL'], LOGGED_OUT);
    expect(run.code).toBe(0);
    expect(run.record.calls).toEqual([]);
  });

  it.each(plugins)('%s: run on its own it says so and exits 1', (_, plugin) => {
    let code = 0;
    let stderr = '';
    try {
      execFileSync(plugin(), [], { stdio: 'pipe' });
    } catch (err) {
      code = (err as { status: number }).status;
      stderr = String((err as { stderr: Buffer }).stderr);
    }
    expect(code).toBe(1);
    expect(stderr).toContain('This cf CLI plugin is not intended to be run on its own');
  });

  it('cf pcap when not logged in: only IsLoggedIn is called, exit 3 with the cf login hint', async () => {
    const run = await fake.run(
      built.files.get('pcap-cli-linux-amd64')!,
      ['pcap', 'my-app', '-o', join(dir, 'x.pcapng')],
      LOGGED_OUT,
    );
    expect(run.code).toBe(3);
    expect(run.stderr).toContain("Not logged in. Use 'cf login'");
    expect(run.record.calls.map((c) => c.method)).toEqual(['IsLoggedIn']);
  });

  it('cf pcap with no space targeted: calls only the five allowed methods, in order, each with "", exit 4', async () => {
    const run = await fake.run(
      built.files.get('pcap-cli-linux-amd64')!,
      ['pcap', 'my-app', '-o', join(dir, 'x.pcapng')],
      NO_SPACE,
    );
    expect(run.stderr).toContain("No space targeted. Use 'cf target -s SPACE'");
    expect(run.code).toBe(4);
    expect(run.record.calls).toEqual(ALLOWED_CALLS.map((method) => ({ method, arg: '' })));
  });

  it('schedule show/pause/resume/delete/runs ID and list do not ask cf for the space (no GetCurrentSpace); list APP does', async () => {
    // A port nothing listens on: the command gets as far as the pcap API (exit 7), not stopped by the missing space.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const api = `http://127.0.0.1:${port}`;
    const plugin = built.files.get('pcap-cli-linux-amd64')!;
    const login = ALLOWED_CALLS.filter((m) => m !== 'GetCurrentSpace').map((method) => ({ method, arg: '' }));
    for (const args of ['show ID', 'pause ID', 'resume ID', 'delete ID', 'runs ID', 'list']) {
      const run = await fake.run(plugin, ['pcap', 'schedule', ...args.split(' '), '--api', api], NO_SPACE);
      expect(run.stderr).toContain(`cannot reach the pcap API at ${api}`);
      expect(run.code).toBe(7);
      expect(run.record.calls).toEqual(login);
    }
    const list = await fake.run(plugin, ['pcap', 'schedule', 'list', 'my-app', '--api', api], NO_SPACE);
    expect(list.stderr).toContain("No space targeted. Use 'cf target -s SPACE'");
    expect(list.code).toBe(4);
    expect(list.record.calls).toEqual(ALLOWED_CALLS.map((method) => ({ method, arg: '' })));
  });

  it('cf pcap when cf cannot give a token (RPC error answer): exit 3 naming it', async () => {
    const run = await fake.run(
      built.files.get('pcap-cli-linux-amd64')!,
      ['pcap', 'my-app', '-o', join(dir, 'x.pcapng')],
      {
        ...NO_SPACE,
        accessTokenError:
          'The token expired, was revoked, or the token ID is incorrect. Please log back in to re-authenticate.',
      },
    );
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('The token expired, was revoked');
    expect(run.record.calls.map((c) => c.method)).toEqual([
      'IsLoggedIn',
      'ApiEndpoint',
      'IsSSLDisabled',
      'AccessToken',
    ]);
  });

  it('cf pcap -h prints the usage on stdout, exit 0; a bad flag exits 2 before any call', async () => {
    const help = await fake.run(built.files.get('pcap-cli.js')!, ['pcap', '-h'], LOGGED_OUT);
    expect(help.code).toBe(0);
    expect(help.stdout.toString()).toContain('cf pcap APP [-o FILE|-]');
    const bad = await fake.run(built.files.get('pcap-cli.js')!, ['pcap', 'app', '--frobnicate'], LOGGED_OUT);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown flag '--frobnicate'");
    expect(bad.record.calls).toEqual([]);
  });
});
