/**
 * `cf pcap` (the plugin, installed from the API's /cli/ folder and run through the Go fake cf) and the standalone
 * `pcap` (cf CLI config.json, BOSH config) against the real capture path: runc containers on two simulated cells,
 * real agents, the real API (own process). Every capture file is read back with tshark / capinfos.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { readPcapng } from '@pcap/capture';
import { parse as parseYaml, stringify } from 'yaml';

import { call, SPACE_DEV, USERS } from '../../test/support/api-harness';
import { tsharkFields } from '../../test/support/tcpdump';
import { buildCliArtifacts, type BuiltCli } from '../build/cli-artifacts';
import { APP, BOSH_OPERATOR, CaptureStack, ROUTERS } from './support/capture-stack';
import { ForwardingProxy } from './support/forwarding-proxy';
import { FakeCf, type FakeCfRun, type FakeCfState } from './support/fake-cf';

const PACKETS = 20;
/** The API's `limits.max_bytes` (also every capture's default): small enough for a test to reach. */
const OPERATOR_MAX_BYTES = 262144;
const ALLOWED_CALLS = ['IsLoggedIn', 'ApiEndpoint', 'IsSSLDisabled', 'AccessToken', 'GetCurrentSpace'];

describe('cf pcap and pcap end to end', () => {
  let dir: string;
  let built: BuiltCli;
  let fake: FakeCf;
  let stack: CaptureStack;
  /** The plugin as `cf install-plugin` would keep it: downloaded from GET /cli/, mode 0700. */
  let plugin: string;
  /** The same for the single executable (Node.js SEA, linux-amd64): the runtime the Linux and macOS files ship. */
  let seaPlugin: string;
  let pcap: string;
  let n = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cli-e2e-'));
    built = await buildCliArtifacts(join(dir, 'served'), { targets: ['linux-amd64'] });
    fake = FakeCf.build();
    stack = await CaptureStack.start({
      cliDir: join(dir, 'served'),
      limits: { max_bytes: OPERATOR_MAX_BYTES },
    });
    const res = await call(`${stack.apiUrl}/cli/pcap-cli.js`);
    expect(res.status).toBe(200);
    plugin = join(dir, 'plugins', 'pcap');
    mkdirSync(join(dir, 'plugins'));
    writeFileSync(plugin, res.body);
    chmodSync(plugin, 0o700);
    const sea = await call(`${stack.apiUrl}/cli/pcap-cli-linux-amd64`);
    expect(sea.status).toBe(200);
    seaPlugin = join(dir, 'plugins', 'pcap-sea');
    writeFileSync(seaPlugin, sea.body);
    chmodSync(seaPlugin, 0o700);
    pcap = built.files.get('pcap.js')!;
  }, 300000);

  afterAll(async () => {
    await stack?.stop();
    fake?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60000);

  const file = (name: string): string => join(dir, `${++n}-${name}`);
  const token = (user = USERS.developer): string => `bearer ${stack.world.uaa.mintUserToken(user)}`;
  const state = (over: Partial<FakeCfState> = {}): FakeCfState => ({
    loggedIn: true,
    apiEndpoint: stack.world.cc.url,
    accessToken: token(),
    spaceGuid: SPACE_DEV.guid,
    spaceName: 'dev',
    ...over,
  });
  const env = (over: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    ...process.env,
    PCAP_API: stack.apiUrl,
    ...over,
  });
  const starts = (): number => (stack.apiOutput().match(/capture\.start/g) ?? []).length;

  /** Resolves once the API logged one more capture.start than `before` (the agents are capturing then). */
  async function started(before: number): Promise<void> {
    const deadline = Date.now() + 60000;
    while (starts() <= before) {
      if (Date.now() > deadline) throw new Error(`no capture started:\n${stack.apiOutput().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Runs the plugin through the fake cf and, once the capture runs, `during`. */
  async function pluginCapture(
    args: string[],
    during: (child: ChildProcess) => Promise<void>,
    over: Partial<FakeCfState> = {},
    executable = plugin,
  ): Promise<FakeCfRun> {
    const before = starts();
    let child: ChildProcess | undefined;
    const run = fake.run(executable, ['pcap', ...args], state(over), {
      env: env(),
      onStart: (c) => (child = c),
    });
    await started(before);
    await during(child!);
    return run;
  }

  function capinfosOk(path: string): string {
    return execFileSync('capinfos', [path], { encoding: 'utf8' });
  }

  it('the API serves the built plugin under /cli/ byte for byte', async () => {
    for (const name of ['pcap-cli.js', 'pcap.js', 'SHA256SUMS']) {
      const res = await call(`${stack.apiUrl}/cli/${name}`);
      expect(res.status).toBe(200);
      expect(res.body.equals(readFileSync(built.files.get(name)!))).toBe(true);
    }
  });

  it('plugin: captures all three instances into one pcapng (one interface each, only its own traffic); only the five RPC calls', async () => {
    const out = file('all.pcapng');
    const run = await pluginCapture(['web-app', '-o', out, '-f', 'udp', '--duration', '8'], () =>
      stack.sendToAll(7000, PACKETS),
    );
    expect(run.stderr).toMatch(
      new RegExp(`${3 * PACKETS} packets, .* from 3 interface\\(s\\) in [\\d.]+s → ${out}`),
    );
    expect(run.code).toBe(0);
    expect(run.record.calls.map((c) => c.method)).toEqual(ALLOWED_CALLS);
    const rows = tsharkFields(out, ['frame.interface_description', 'udp.dstport', 'ip.dst'], 'udp');
    expect(rows).toHaveLength(3 * PACKETS);
    for (const [i, c] of stack.instances.entries()) {
      const mine = rows.filter((r) => r[0]!.includes(`index=${i} `));
      expect(mine).toHaveLength(PACKETS);
      expect(new Set(mine.map((r) => `${r[1]} ${r[2]}`))).toEqual(new Set([`${7000 + i} ${c.ip}`]));
      expect(mine[0]![0]).toContain(`app=${APP.name}`);
    }
    expect(capinfosOk(out)).toMatch(new RegExp(`Number of packets:\\s+${3 * PACKETS}\\b`));
    expect(statSync(out).mode & 0o777).toBe(0o644);
  }, 120000);

  it('plugin: -o - writes only capture bytes to stdout, piped into tshark -r -', async () => {
    const before = starts();
    const stateFile = join(dir, 'pipe-state.json');
    writeFileSync(stateFile, JSON.stringify(state()));
    const shell = spawn(
      'sh',
      [
        '-c',
        `"${fake.binary}" run -plugin "${plugin}" -state "${stateFile}" -- pcap web-app -o - -f udp --duration 6 | tshark -r - -T fields -e udp.dstport`,
      ],
      { env: env(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    shell.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    shell.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = new Promise<number>((resolve) => shell.once('close', (c) => resolve(c ?? -1)));
    await started(before);
    await stack.sendToAll(7100, PACKETS);
    expect(await code).toBe(0);
    const ports = stdout.trim().split('\n');
    expect(ports).toHaveLength(3 * PACKETS);
    expect(new Set(ports)).toEqual(new Set(['7100', '7101', '7102']));
    expect(stderr).toContain(`${3 * PACKETS} packets`);
    expect(stderr).toContain('→ stdout');
  }, 120000);

  it('plugin: --format pcap writes classic pcap of the chosen instance', async () => {
    const out = file('one.pcap');
    const run = await pluginCapture(
      ['web-app', '-o', out, '-f', 'udp', '-i', '1', '--format', 'pcap', '--duration', '5'],
      () => stack.sendToAll(7200, PACKETS),
    );
    expect(run.code).toBe(0);
    expect(readFileSync(out).readUInt32LE(0)).toBe(0xa1b2c3d4);
    const rows = tsharkFields(out, ['udp.dstport'], 'udp');
    expect(rows.map((r) => r[0])).toEqual(Array<string>(PACKETS).fill('7201'));
  }, 120000);

  it('plugin: --max-packets N: the API ends the capture with LIMIT_REACHED, printed as origin (TYPE): message; exit 0', async () => {
    const out = file('max.pcapng');
    const run = await pluginCapture(
      ['web-app', '-o', out, '-f', 'udp', '--max-packets', '10', '--duration', '30'],
      () => stack.sendToAll(7600, PACKETS),
    );
    expect(run.stderr).toContain('api (LIMIT_REACHED): packet limit of 10 reached\n');
    expect(run.code).toBe(0);
    expect(tsharkFields(out, ['udp.dstport'], 'udp')).toHaveLength(10);
  }, 120000);

  it('plugin: an operator limit the user did not ask for ends the capture: exit 8 naming it, the file valid', async () => {
    const out = file('operator-limit.pcapng');
    const run = await pluginCapture(['web-app', '-o', out, '-f', 'udp', '--duration', '30'], () =>
      stack.sendToAll(7700, 1000),
    );
    expect(run.stderr).toContain(`api (LIMIT_REACHED): byte limit of ${OPERATOR_MAX_BYTES} reached`);
    expect(run.stderr).toContain("the capture was ended by the pcap API's bytes limit");
    expect(run.code).toBe(8);
    expect(capinfosOk(out)).toMatch(/Number of packets:\s+\d+/);
    expect(tsharkFields(out, ['udp.dstport'], 'udp').length).toBeGreaterThan(100);
  }, 120000);

  it('plugin: the first Ctrl-C stops gracefully (DELETE /captures/<id>: agents drain, CAPTURE_STOPPED): exit 0, the file complete', async () => {
    const out = file('sigint.pcapng');
    const run = await pluginCapture(
      ['web-app', '-o', out, '-f', 'udp', '--duration', '60'],
      async (child) => {
        await stack.sendToAll(7300, PACKETS);
        await new Promise((r) => setTimeout(r, 1500));
        process.kill(-child.pid!, 'SIGINT');
      },
    );
    expect(run.stderr).toContain('stopping: the agents drain');
    expect(run.stderr).toMatch(/^api \(CAPTURE_STOPPED\): /m);
    expect(run.code).toBe(0);
    expect(capinfosOk(out)).toMatch(/Number of packets:\s+60\b/);
    expect(tsharkFields(out, ['udp.dstport'], 'udp')).toHaveLength(3 * PACKETS);
    // The agents' final statistics made it into the file: an ISB for each instance's interface.
    const withStats = new Set<number>();
    for await (const e of readPcapng(Readable.from([readFileSync(out)]))) {
      if (e.type === 'statistics') withStats.add(e.interfaceId);
    }
    expect([...withStats].sort()).toEqual([0, 1, 2]);
  }, 120000);

  it('plugin as the single executable from /cli/ (Node.js SEA): captures the three instances; the first Ctrl-C stops gracefully, the file complete', async () => {
    const out = file('sea.pcapng');
    const run = await pluginCapture(
      ['web-app', '-o', out, '-f', 'udp', '--duration', '60'],
      async (child) => {
        await stack.sendToAll(7350, PACKETS);
        await new Promise((r) => setTimeout(r, 1500));
        process.kill(-child.pid!, 'SIGINT');
      },
      {},
      seaPlugin,
    );
    expect(run.stderr).toContain('stopping: the agents drain');
    expect(run.stderr).toMatch(/^api \(CAPTURE_STOPPED\): /m);
    expect(run.code).toBe(0);
    expect(run.record.calls.map((c) => c.method)).toEqual(ALLOWED_CALLS);
    const rows = tsharkFields(out, ['frame.interface_description', 'udp.dstport'], 'udp');
    expect(rows).toHaveLength(3 * PACKETS);
    for (const i of [0, 1, 2]) {
      expect(rows.filter((r) => r[0]!.includes(`index=${i} `)).map((r) => r[1])).toEqual(
        Array<string>(PACKETS).fill(String(7350 + i)),
      );
    }
  }, 120000);

  it('plugin: Ctrl-C against an API without DELETE /captures/<id> closes the request: exit 0, a valid file', async () => {
    const proxy = await ForwardingProxy.start(stack.apiUrl, 404);
    try {
      const out = file('sigint-fallback.pcapng');
      const run = await pluginCapture(
        ['web-app', '-o', out, '-f', 'udp', '--duration', '60', '--api', proxy.url],
        async (child) => {
          await stack.sendToAll(7350, PACKETS);
          await new Promise((r) => setTimeout(r, 1500));
          process.kill(-child.pid!, 'SIGINT');
        },
      );
      expect(proxy.deletes).toHaveLength(1);
      expect(run.code).toBe(0);
      expect(capinfosOk(out)).toMatch(/Number of packets:\s+60\b/);
    } finally {
      await proxy.stop();
    }
  }, 120000);

  it('plugin: Ctrl-C asks the API to stop (DELETE /captures/<id> with the token); a second Ctrl-C while it drains stops at once: exit 130, the file valid', async () => {
    // The proxy accepts the DELETE (202) and forwards the rest, so the stream goes on as while agents drain.
    const proxy = await ForwardingProxy.start(stack.apiUrl);
    try {
      const out = file('sigint2.pcapng');
      const accessToken = token();
      const run = await pluginCapture(
        ['web-app', '-o', out, '-f', 'udp', '--duration', '60', '--api', proxy.url],
        async (child) => {
          const traffic = stack.sendToAll(7400, 200);
          await new Promise((r) => setTimeout(r, 800));
          process.kill(-child.pid!, 'SIGINT');
          await new Promise((r) => setTimeout(r, 700));
          expect(proxy.deletes).toHaveLength(1);
          process.kill(-child.pid!, 'SIGINT');
          await traffic;
        },
        { accessToken },
      );
      expect(run.stderr).toContain('stopping: the agents drain');
      expect(run.stderr).toContain('stopping now');
      expect(run.code).toBe(130);
      expect(proxy.deletes[0]!.path).toMatch(/^\/captures\/[\w-]+$/);
      expect(proxy.deletes[0]!.authorization).toBe(accessToken);
      capinfosOk(out);
      const rows = tsharkFields(out, ['udp.dstport'], 'udp');
      expect(rows.length).toBeGreaterThan(0);
    } finally {
      await proxy.stop();
    }
  }, 120000);

  describe('errors: message and exit code', () => {
    async function fails(
      args: string[],
      over: Partial<FakeCfState>,
      code: number,
      message: string | RegExp,
      extraEnv: NodeJS.ProcessEnv = {},
    ): Promise<FakeCfRun> {
      const run = await fake.run(plugin, ['pcap', ...args], state(over), { env: env(extraEnv) });
      expect(run.stderr).toMatch(message);
      expect(run.code).toBe(code);
      expect(run.stdout.length).toBe(0);
      return run;
    }

    it('app not found: 5', async () => {
      await fails(['nope', '-o', file('x')], {}, 5, "App 'nope' not found in space 'dev'.");
    });

    it('not authorised (a space auditor may not capture): 6, with the reason', async () => {
      await fails(
        ['web-app', '-o', file('x')],
        { accessToken: token(USERS.auditor) },
        6,
        /not authorised: .*(developer|sensitive|permission)/i,
      );
    });

    it('a token Cloud Controller refuses: 3', async () => {
      await fails(
        ['web-app', '-o', file('x')],
        { accessToken: 'bearer e30.e30.c2ln' },
        3,
        /Cloud Controller refused your token/,
      );
    });

    it('API unreachable: 7, naming the URL', async () => {
      await fails(
        ['web-app', '-o', file('x'), '--api', 'http://127.0.0.1:9'],
        {},
        7,
        /cannot reach the pcap API at http:\/\/127\.0\.0\.1:9/,
      );
    });

    it('without --api/PCAP_API the pcap API URL comes from the CF API URL (here CC itself, which answers 404: 5)', async () => {
      const run = await fake.run(
        plugin,
        ['pcap', 'web-app', '-o', file('x')],
        state({ apiEndpoint: stack.world.cc.url }),
        {
          env: { ...process.env, PCAP_API: '' },
        },
      );
      // The CC double's host has no api. prefix, so the pcap API is looked for at CC's own origin, which has no /captures.
      expect(run.stderr).toContain(
        `FAILED: ${stack.world.cc.url}/captures answered 404; is that the pcap API? Set --api or PCAP_API.`,
      );
      expect(run.code).toBe(5);
    });

    it('a request over an operator limit: 8, naming the limit', async () => {
      await fails(['web-app', '-o', file('x'), '--duration', '2h'], {}, 8, /limits\.max_duration_seconds/);
    });

    it('too many captures at once: 8, naming the limit', async () => {
      const first = file('first.pcapng');
      await pluginCapture(['web-app', '-o', first, '--duration', '30'], async (child) => {
        await fails(['web-app', '-o', file('x')], {}, 8, /limit reached: .*concurrent_captures_per_user/);
        process.kill(-child.pid!, 'SIGINT');
      });
      capinfosOk(first);
    }, 120000);

    it("a filter libpcap refuses: 9 with libpcap's text; an existing file without --force: 2", async () => {
      await fails(
        ['web-app', '-o', file('x'), '-f', 'tcp port'],
        {},
        9,
        /refused the request: .*(syntax|port)/i,
      );
      const existing = file('exists.pcapng');
      writeFileSync(existing, 'keep me');
      const run = await fails(['web-app', '-o', existing], {}, 2, /exists; use --force to overwrite it/);
      expect(run.record.calls).toEqual([]);
      expect(readFileSync(existing, 'utf8')).toBe('keep me');
    });
  });

  describe('standalone pcap', () => {
    function runPcap(
      args: string[],
      extraEnv: NodeJS.ProcessEnv,
      during?: () => Promise<void>,
    ): Promise<{ code: number; stderr: string }> {
      const before = starts();
      const child = spawn(pcap, args, { env: env(extraEnv), stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const done = new Promise<number>((resolve) => child.once('close', (c) => resolve(c ?? -1)));
      return (async () => {
        if (during !== undefined) {
          await started(before);
          await during();
        }
        return { code: await done, stderr };
      })();
    }

    function cfHome(config: Record<string, unknown>): { home: string; path: string } {
      const home = mkdtempSync(join(dir, 'cfhome-'));
      mkdirSync(join(home, '.cf'));
      const path = join(home, '.cf', 'config.json');
      writeFileSync(path, JSON.stringify(config, null, 2), { mode: 0o600 });
      chmodSync(path, 0o600);
      return { home, path };
    }

    const cfConfig = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
      ConfigVersion: 4,
      Target: stack.world.cc.url,
      APIVersion: '3.195.0',
      AuthorizationEndpoint: stack.world.uaa.url,
      UaaEndpoint: stack.world.uaa.url,
      SSLDisabled: false,
      AccessToken: token(),
      RefreshToken: stack.world.uaa.mintRefreshToken(USERS.developer),
      UAAGrantType: '',
      UAAOAuthClient: 'cf',
      UAAOAuthClientSecret: '',
      OrganizationFields: { GUID: 'b1f0a8a6-0000-4000-8000-00000000a001', Name: 'acme' },
      SpaceFields: { GUID: SPACE_DEV.guid, Name: 'dev', AllowSSH: true },
      PluginRepos: [{ Name: 'CF-Community', URL: 'https://plugins.cloudfoundry.org' }],
      ColorEnabled: 'true',
      ...over,
    });

    it('reads config.json, refreshes an expiring token at UAA and writes it back atomically (same mode, other fields kept), captures the chosen instances', async () => {
      const expiring = `bearer ${stack.world.uaa.mintUserToken(USERS.developer, {}, { expiresIn: 30 })}`;
      const original = cfConfig({ AccessToken: expiring });
      const { home, path } = cfHome(original);
      const out = file('standalone.pcapng');
      const result = await runPcap(
        ['web-app', '-o', out, '-i', '0,2', '-f', 'udp', '--duration', '6'],
        { CF_HOME: home },
        () => stack.sendToAll(7500, PACKETS),
      );
      expect(result.stderr).toContain(`${2 * PACKETS} packets`);
      expect(result.code).toBe(0);
      const after = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
      expect(after.AccessToken).not.toBe(expiring);
      expect(String(after.AccessToken)).toMatch(/^bearer ey/);
      expect(after.RefreshToken).not.toBe(original.RefreshToken);
      const { AccessToken: _a, RefreshToken: _r, ...rest } = after;
      const { AccessToken: _b, RefreshToken: _s, ...restBefore } = original;
      expect(rest).toEqual(restBefore);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(readdirSync(join(home, '.cf'))).toEqual(['config.json']);
      const rows = tsharkFields(out, ['udp.dstport'], 'udp');
      expect(rows.map((r) => r[0]).sort()).toEqual([
        ...Array<string>(PACKETS).fill('7500'),
        ...Array<string>(PACKETS).fill('7502'),
      ]);
    }, 120000);

    it('a fresh token is used as it is: config.json is not rewritten', async () => {
      const { home, path } = cfHome(cfConfig());
      const before = readFileSync(path, 'utf8');
      const mtime = statSync(path).mtimeMs;
      const result = await runPcap(['nope', '-o', file('x')], { CF_HOME: home });
      expect(result.code).toBe(5);
      expect(readFileSync(path, 'utf8')).toBe(before);
      expect(statSync(path).mtimeMs).toBe(mtime);
    });

    it.each([
      ['no config.json', 3, undefined, /no cf CLI configuration at .*config\.json\. Use 'cf login'/],
      ['logged out', 3, { AccessToken: '', RefreshToken: '' }, /Not logged in\. Use 'cf login'/],
      ['no space targeted', 4, { SpaceFields: { GUID: '', Name: '' } }, /No space targeted/],
      [
        'an expired token UAA will not renew',
        3,
        { AccessToken: 'bearer e30.eyJleHAiOjF9.c2ln', RefreshToken: 'garbage' },
        /session expired and UAA refused to renew it/,
      ],
      ['an old config version', 1, { ConfigVersion: 3 }, /ConfigVersion 3/],
    ] as const)('%s: exit %d', async (_, code, over, message) => {
      const home = over === undefined ? mkdtempSync(join(dir, 'empty-')) : cfHome(cfConfig(over)).home;
      const result = await runPcap(['web-app', '-o', file('x')], { CF_HOME: home });
      expect(result.stderr).toMatch(message);
      expect(result.code).toBe(code);
    });

    describe('bosh mode', () => {
      function boshConfig(envs: Array<Record<string, unknown>>): string {
        const path = join(mkdtempSync(join(dir, 'bosh-')), 'config');
        writeFileSync(path, `# written by bosh\n${stringify({ environments: envs })}`, { mode: 0o600 });
        return path;
      }

      it("captures lo of both router VMs with the BOSH CLI's login (token refreshed at the director's UAA, ~/.bosh/config written back atomically); Ctrl-C stops it", async () => {
        const uaa = stack.boshUaa;
        const expiring = uaa.mintUserToken(BOSH_OPERATOR, {}, { expiresIn: 10 });
        const path = boshConfig([
          {
            url: stack.director.url,
            alias: 'lab',
            access_token: expiring,
            access_token_type: 'bearer',
            refresh_token: uaa.mintRefreshToken(BOSH_OPERATOR),
          },
          { url: 'https://10.9.9.9:25555', alias: 'other', access_token: 'x' },
        ]);
        const out = file('bosh.pcapng');
        const port = 7650 + (process.pid % 300);
        const before = starts();
        const child = spawn(
          pcap,
          [
            'bosh',
            '-d',
            'cf',
            '-g',
            'router',
            '-e',
            'lab',
            '--bosh-config',
            path,
            '--interface',
            'lo',
            '-f',
            `udp port ${port}`,
            '-o',
            out,
            '--api',
            stack.apiUrl,
          ],
          { env: env(), stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        const done = new Promise<number>((resolve) => child.once('close', (c) => resolve(c ?? -1)));
        await started(before);
        await new Promise((r) => setTimeout(r, 500));
        const socket = createSocket('udp4');
        for (let i = 0; i < PACKETS; i++) {
          await new Promise<void>((resolve, reject) =>
            socket.send(Buffer.alloc(32, i), port, '127.0.0.1', (e) => (e ? reject(e) : resolve())),
          );
        }
        socket.close();
        await new Promise((r) => setTimeout(r, 1000));
        child.kill('SIGINT');
        const code = await done;
        expect(stderr).toMatch(/^api \(CAPTURE_STOPPED\): /m);
        expect(code).toBe(0);
        const rows = tsharkFields(out, ['frame.interface_description', 'udp.dstport'], 'udp');
        expect(rows).toHaveLength(2 * PACKETS);
        for (const id of ROUTERS) {
          const mine = rows.filter((r) => r[0]!.includes(`id=${id}`));
          expect(mine).toHaveLength(PACKETS);
          expect(mine[0]![0]).toContain('deployment=cf');
          expect(mine[0]![0]).toContain('instance_group=router');
        }
        const text = readFileSync(path, 'utf8');
        expect(text.startsWith('# written by bosh\n')).toBe(true);
        const after = parseYaml(text) as { environments: Array<Record<string, string>> };
        expect(after.environments[0]!.access_token).not.toBe(expiring);
        expect(uaa.verify(after.environments[0]!.access_token!).ok).toBe(true);
        expect(after.environments[1]).toEqual({
          url: 'https://10.9.9.9:25555',
          alias: 'other',
          access_token: 'x',
        });
        expect(statSync(path).mode & 0o777).toBe(0o600);
        expect(readdirSync(join(path, '..'))).toEqual(['config']);
      }, 120000);

      it('an unknown deployment: 5 naming it; several environments and no -e: 4; no deployment or group: 2', async () => {
        const token = stack.boshUaa.mintUserToken(BOSH_OPERATOR);
        const one = boshConfig([
          { url: stack.director.url, access_token: token, access_token_type: 'bearer' },
        ]);
        const unknown = await runPcap(
          [
            'bosh',
            '-d',
            'nope',
            '-g',
            'router',
            '--bosh-config',
            one,
            '-o',
            file('x'),
            '--api',
            stack.apiUrl,
          ],
          {},
        );
        expect(unknown.stderr).toMatch(/nope/);
        expect(unknown.code).toBe(5);
        const two = boshConfig([
          { url: stack.director.url, alias: 'a', access_token: token },
          { url: stack.director.url, alias: 'b', access_token: token },
        ]);
        const none = await runPcap(
          ['bosh', '-d', 'cf', '-g', 'router', '--bosh-config', two, '-o', file('x'), '--api', stack.apiUrl],
          { BOSH_ENVIRONMENT: '' },
        );
        expect(none.stderr).toMatch(/choose a BOSH environment with -e/);
        expect(none.code).toBe(4);
        const usage = await runPcap(['bosh', '-o', file('x')], { PCAP_API: '' });
        expect(usage.stderr).toMatch(/-d DEPLOYMENT[\s\S]*-g GROUP[\s\S]*--api URL/);
        expect(usage.code).toBe(2);
      });
    });

    it('no failed run created its output file', () => {
      expect(readdirSync(dir).filter((f) => f.endsWith('-x'))).toEqual([]);
    });
  });
});
