/**
 * `pcap schedule ...` / `pcap stored ...` (the standalone CLI, cf CLI config.json) and `cf pcap schedule ...` (the
 * plugin through the Go fake cf) against the real API with schedules on SQLite and an `archive` sink on s3rver:
 * a one-off scheduled a few seconds ahead runs, its stored capture is listed and downloaded (read by tshark);
 * list/show/pause/resume/delete; the API's refusals with their exit codes; an API without schedules.
 */
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { call, SPACE_DEV, USERS } from '../../test/support/api-harness';
import { S3TestServer } from '../../test/support/s3-server';
import { tsharkFields } from '../../test/support/tcpdump';
import { buildCliArtifacts } from '../build/cli-artifacts';
import { CaptureStack } from './support/capture-stack';
import { FakeCf } from './support/fake-cf';

const CLIENT = {
  id: 'pcap-scheduler',
  secret: 'scheduler-secret',
  authorities: ['cloud_controller.admin_read_only'],
};
const ALLOWED_CALLS = ['IsLoggedIn', 'ApiEndpoint', 'IsSSLDisabled', 'AccessToken', 'GetCurrentSpace'];

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

describe('schedule and stored commands end to end', () => {
  let dir: string;
  let s3: S3TestServer;
  let stack: CaptureStack;
  let fake: FakeCf;
  let pcap: string;
  let plugin: string;
  let home: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cli-sched-'));
    const built = await buildCliArtifacts(join(dir, 'served'), { targets: [] });
    pcap = built.files.get('pcap.js')!;
    plugin = built.files.get('pcap-cli.js')!;
    fake = FakeCf.build();
    s3 = await S3TestServer.start();
    stack = await CaptureStack.start({
      cliDir: join(dir, 'served'),
      config: {
        sinks: {
          archive: s3.sinkConfig(),
          // Objects of at most 2 KiB: a few seconds of test traffic make several parts.
          rotating: s3.sinkConfig({ prefix: 'rot/', rotation: { max_bytes: 2048 } }),
        },
        schedules: {
          store: { kind: 'sqlite', data_dir: join(dir, 'sched') },
          uaa_client: { id: CLIENT.id, secret: CLIENT.secret },
          tick_seconds: 0.25,
          lease_seconds: 3,
          missed_after_seconds: 5,
          min_interval_seconds: 2,
          max_duration_seconds: 30,
        },
      },
    });
    stack.world.uaa.addClient(CLIENT);
    home = mkdtempSync(join(dir, 'cfhome-'));
    mkdirSync(join(home, '.cf'));
    writeFileSync(
      join(home, '.cf', 'config.json'),
      JSON.stringify({
        ConfigVersion: 4,
        Target: stack.world.cc.url,
        AuthorizationEndpoint: stack.world.uaa.url,
        UaaEndpoint: stack.world.uaa.url,
        SSLDisabled: false,
        AccessToken: `bearer ${stack.world.uaa.mintUserToken(USERS.developer)}`,
        RefreshToken: stack.world.uaa.mintRefreshToken(USERS.developer),
        UAAOAuthClient: 'cf',
        UAAOAuthClientSecret: '',
        SpaceFields: { GUID: SPACE_DEV.guid, Name: 'dev', AllowSSH: true },
      }),
      { mode: 0o600 },
    );
  }, 300000);

  afterAll(async () => {
    await stack?.stop();
    await s3?.destroy();
    fake?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60000);

  function run(args: string[], api = stack.apiUrl): Promise<Run> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [pcap, ...args],
        { env: { ...process.env, CF_HOME: home, PCAP_API: api }, maxBuffer: 64 << 20, encoding: 'utf8' },
        (err, stdout, stderr) =>
          resolve({ code: err === null ? 0 : Number((err as { code?: number }).code ?? -1), stdout, stderr }),
      );
    });
  }

  async function ok(args: string[]): Promise<string> {
    const r = await run(args);
    if (r.code !== 0) throw new Error(`pcap ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    return r.stdout;
  }

  it('a one-off a few seconds ahead runs; runs, stored list and download (file, stdout, --url) show the capture', async () => {
    const created = JSON.parse(
      await ok(
        ['schedule', 'create', 'web-app', '--at', '+3s', '--duration', '3', '--sink', 'archive'].concat([
          '-i',
          '0',
          '-f',
          'udp',
          '--json',
        ]),
      ),
    ) as { id: string; state: string; sink: string; capture: Record<string, unknown> };
    expect(created.state).toBe('active');
    expect(created.capture).toMatchObject({ filter: 'udp', duration_seconds: 3, instances: [0] });
    const id = created.id;

    const list = await ok(['schedule', 'list']);
    expect(list).toMatch(/^ID\s+APP\s+WHEN\s+DURATION\s+SINK\s+STATE\s+NEXT RUN\n/);
    expect(list).toMatch(new RegExp(`${id}\\s+web-app\\s+at \\S+\\s+3s\\s+archive\\s+active`));
    expect(await ok(['schedule', 'show', id])).toMatch(/state:\s+active\n/);

    // Traffic into the containers until the run is over; poll `schedule runs` as a script would.
    let done = false;
    const traffic = (async () => {
      while (!done) {
        await stack.sendToAll(7300, 10);
        await sleep(200);
      }
    })();
    let runs: Array<Record<string, unknown>> = [];
    const deadline = Date.now() + 30000;
    try {
      for (;;) {
        runs = (JSON.parse(await ok(['schedule', 'runs', id, '--json'])) as { resources: typeof runs })
          .resources;
        if (runs.length > 0 && runs[0]!.outcome !== 'running') break;
        if (Date.now() > deadline) throw new Error(`no finished run: ${JSON.stringify(runs)}`);
        await sleep(500);
      }
    } finally {
      done = true;
      await traffic;
    }
    expect(runs).toHaveLength(1);
    const r = runs[0]!;
    expect(r.outcome).toBe('succeeded');
    expect(r.packets).toBeGreaterThan(0);
    const captureId = /([0-9a-f-]{36})\/000001\.pcapng$/.exec((r.objects as string[])[0]!)![1]!;

    const table = await ok(['schedule', 'runs', id]);
    expect(table).toMatch(new RegExp(`succeeded\\s+${String(r.packets)}\\s+\\d+\\s+0\\s+1\\s+${captureId}`));
    expect(await ok(['schedule', 'show', id])).toMatch(/state:\s+completed\n/);

    const stored = await ok(['stored', 'list', 'web-app', '--sink', 'archive']);
    expect(stored).toMatch(
      new RegExp(`^CAPTURE ID\\s+PART\\s+SIZE\\s+LAST MODIFIED\\n${captureId}\\s+1\\s+`),
    );

    // Without PART: the only part. The file is read by tshark and holds exactly the run's packets.
    const file = join(dir, 'run.pcapng');
    const down = await run(['stored', 'download', 'web-app', captureId, '--sink', 'archive', '-o', file]);
    expect(down.stderr).toMatch(new RegExp(`of capture ${captureId} part 1 → ${file}`));
    expect(down.code).toBe(0);
    const rows = tsharkFields(file, ['frame.interface_description', 'udp.dstport']);
    expect(rows).toHaveLength(r.packets as number);
    expect(new Set(rows.map((x) => x[1]))).toEqual(new Set(['7300']));
    expect(rows[0]![0]).toContain('index=0 ');
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    // No overwrite without --force (before anything is contacted); with it, the same bytes again.
    const again = await run([
      'stored',
      'download',
      'web-app',
      captureId,
      '1',
      '--sink',
      'archive',
      '-o',
      file,
    ]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`'${file}' exists; use --force to overwrite it`);
    const bytes = readFileSync(file);
    writeFileSync(file, 'old');
    await ok(['stored', 'download', 'web-app', captureId, '1', '--sink', 'archive', '-o', file, '--force']);
    expect(readFileSync(file).equals(bytes)).toBe(true);

    const piped = await new Promise<Buffer>((resolve, reject) =>
      execFile(
        process.execPath,
        [pcap, 'stored', 'download', 'web-app', captureId, '--sink', 'archive', '-o', '-'],
        { env: { ...process.env, CF_HOME: home, PCAP_API: stack.apiUrl }, encoding: 'buffer' },
        (err, stdout) => (err ? reject(new Error(err.message)) : resolve(stdout)),
      ),
    );
    expect(piped.equals(bytes)).toBe(true);

    const url = (await ok(['stored', 'download', 'web-app', captureId, '--sink', 'archive', '--url'])).trim();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/pcap-captures\/.*X-Amz-Signature=/);
    expect((await call(url)).body.equals(bytes)).toBe(true);

    const missing = await run([
      'stored',
      'download',
      'web-app',
      captureId,
      '7',
      '--sink',
      'archive',
      '-o',
      join(dir, 'x'),
    ]);
    expect(missing.code).toBe(5);
    expect(missing.stderr).toContain(`No part 7 of capture ${captureId} is stored in sink 'archive'.`);
    expect(existsSync(join(dir, 'x'))).toBe(false);
  }, 60000);

  it('stored download --all: every part of a rotated capture into a folder (or onto stdout, or as URLs); no overwrite without --force', async () => {
    // A live capture of instance 0, also stored in the `rotating` sink, while UDP is sent into the containers.
    const live = join(dir, 'rotated-live.pcapng');
    let done = false;
    const capture = run([
      'web-app',
      '-i',
      '0',
      '-f',
      'udp',
      '--duration',
      '4',
      '--sink',
      'rotating',
      '-o',
      live,
      '-q',
    ]);
    const traffic = (async () => {
      while (!done) {
        await stack.sendToAll(7400, 10);
        await sleep(200);
      }
    })();
    const captured = await capture;
    done = true;
    await traffic;
    expect(captured.stderr).toBe('');
    expect(captured.code).toBe(0);
    const livePackets = tsharkFields(live, ['udp.dstport']);
    expect(livePackets.length).toBeGreaterThan(20);

    const listed = JSON.parse(await ok(['stored', 'list', 'web-app', '--sink', 'rotating', '--json'])) as {
      captures: Array<{ capture_id: string; objects: Array<{ part: number }> }>;
    };
    expect(listed.captures).toHaveLength(1);
    const captureId = listed.captures[0]!.capture_id;
    const parts = listed.captures[0]!.objects.map((o) => o.part).sort((a, b) => a - b);
    expect(parts.length).toBeGreaterThan(2);
    expect(parts).toEqual(parts.map((_, i) => i + 1));

    // Neither PART nor --all: the parts are listed (exit 2); both: exit 2.
    const which = await run([
      'stored',
      'download',
      'web-app',
      captureId,
      '--sink',
      'rotating',
      '-o',
      join(dir, 'y'),
    ]);
    expect(which.code).toBe(2);
    expect(which.stderr).toContain(`capture ${captureId} has ${parts.length} parts (${parts.join(', ')})`);
    const both = await run([
      'stored',
      'download',
      'web-app',
      captureId,
      '2',
      '--all',
      '--sink',
      'rotating',
      '-o',
      dir,
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give either PART or --all');

    const downloadAll = ['stored', 'download', 'web-app', captureId, '--all', '--sink', 'rotating'];
    // -o DIR (made): one file per part, each a pcapng tshark reads; together exactly the live capture's packets.
    const folder = join(dir, 'parts');
    const down = await run([...downloadAll, '-o', folder]);
    expect(down.code).toBe(0);
    expect(down.stderr).toContain(`${parts.length} part(s), `);
    const names = parts.map((p) => `${captureId}-${String(p).padStart(6, '0')}.pcapng`);
    expect(readdirSync(folder).sort()).toEqual(names);
    const perPart = names.map((n) => tsharkFields(join(folder, n), ['udp.dstport']));
    for (const rows of perPart) expect(rows.length).toBeGreaterThan(0);
    expect(perPart.flat()).toEqual(livePackets);

    // Again: refused before anything is fetched, naming the files; with --force the same bytes.
    const bytes = names.map((n) => readFileSync(join(folder, n)));
    writeFileSync(join(folder, names[0]!), 'old');
    const again = await run([...downloadAll, '-o', folder]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`'${join(folder, names[0]!)}'`);
    expect(again.stderr).toContain('use --force to overwrite');
    expect(readFileSync(join(folder, names[0]!), 'utf8')).toBe('old');
    await ok([...downloadAll, '-o', folder, '--force']);
    names.forEach((n, i) => expect(readFileSync(join(folder, n)).equals(bytes[i]!)).toBe(true));
    expect(readdirSync(folder).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    // -o -: the parts one after the other, one pcapng of several sections that tshark reads whole.
    const piped = await new Promise<Buffer>((resolve, reject) =>
      execFile(
        process.execPath,
        [pcap, ...downloadAll, '-o', '-'],
        { env: { ...process.env, CF_HOME: home, PCAP_API: stack.apiUrl }, encoding: 'buffer' },
        (err, stdout) => (err ? reject(new Error(err.message)) : resolve(stdout)),
      ),
    );
    expect(piped.equals(Buffer.concat(bytes))).toBe(true);
    const joined = join(dir, 'rotated-joined.pcapng');
    writeFileSync(joined, piped);
    expect(tsharkFields(joined, ['udp.dstport'])).toEqual(livePackets);

    // --url: one presigned URL per part, in order.
    const urls = (await ok([...downloadAll, '--url'])).trim().split('\n');
    expect(urls).toHaveLength(parts.length);
    for (const [i, u] of urls.entries()) expect((await call(u)).body.equals(bytes[i]!)).toBe(true);
  }, 60000);

  it('pause, resume and delete a cron schedule; the plugin lists it with only the five RPC calls', async () => {
    const created = await ok(
      ['schedule', 'create', 'web-app', '--cron', '0 3 * * *', '--timezone', 'Europe/Berlin'].concat([
        '--duration',
        '20s',
        '--sink',
        'archive',
      ]),
    );
    const id = /^Schedule (\S+) created\.\n/.exec(created)![1]!;
    expect(created).toMatch(/when:\s+cron '0 3 \* \* \*' Europe\/Berlin\n/);
    expect(created).toMatch(/capture:\s+20s/);

    const viaPlugin = await fake.run(
      plugin,
      ['pcap', 'schedule', 'list', 'web-app'],
      {
        loggedIn: true,
        apiEndpoint: stack.world.cc.url,
        accessToken: `bearer ${stack.world.uaa.mintUserToken(USERS.developer)}`,
        spaceGuid: SPACE_DEV.guid,
        spaceName: 'dev',
      },
      { env: { ...process.env, PCAP_API: stack.apiUrl } },
    );
    expect(viaPlugin.stderr).toBe('');
    expect(viaPlugin.code).toBe(0);
    expect(viaPlugin.stdout.toString()).toMatch(
      new RegExp(`${id}\\s+web-app\\s+cron '0 3 \\* \\* \\*' Europe/Berlin\\s+20s`),
    );
    expect(viaPlugin.record.calls.map((c) => c.method)).toEqual(ALLOWED_CALLS);

    expect(await ok(['schedule', 'pause', id])).toMatch(
      new RegExp(`^Schedule ${id} paused\\.\\n[^]*state:\\s+paused`),
    );
    expect(await ok(['schedule', 'resume', id])).toMatch(/state:\s+active\n/);
    expect(await ok(['schedule', 'delete', id])).toBe(
      `Schedule ${id} deleted (its stored captures stay in the sink).\n`,
    );
    const gone = await run(['schedule', 'show', id]);
    expect(gone.code).toBe(5);
    expect(gone.stderr).toBe(`pcap: Schedule '${id}' not found.\n`);
    expect(await ok(['schedule', 'list'])).not.toContain(id);
  }, 30000);

  it.each([
    [
      'a bad cron: the API message',
      '--cron|61 * * * *|--duration|10|--sink|archive',
      9,
      "cron: '61 * * * *' is not a valid cron expression",
    ],
    [
      'an unknown sink',
      '--at|+1h|--duration|10|--sink|nowhere',
      9,
      "sink: 'nowhere' is not configured; configured sinks: archive, rotating",
    ],
    ['a past time', '--at|2020-01-01T00:00:00Z|--duration|10|--sink|archive', 9, 'is in the past'],
    ['over a limit', '--at|+1h|--duration|1h|--sink|archive', 8, 'max_duration_seconds'],
    [
      'neither --at nor --cron',
      '--duration|10|--sink|archive',
      2,
      'give exactly one of --at TIME and --cron EXPR',
    ],
  ])('create with %s (%s) exits %d', async (_, extra, code, message) => {
    const args = ['schedule', 'create', 'web-app', ...extra.split('|')];
    const r = await run(args);
    expect(r.stderr).toContain(message);
    expect(r.code).toBe(code);
  });

  it('refusals of the other commands: unknown app, unknown sink, bad id, no schedules on the API', async () => {
    const noApp = await run([
      'schedule',
      'create',
      'nope',
      '--at',
      '+1h',
      '--duration',
      '10',
      '--sink',
      'archive',
    ]);
    expect(noApp.stderr).toContain("App 'nope' not found in space 'dev'.");
    expect(noApp.code).toBe(5);
    const noSink = await run(['stored', 'list', 'web-app', '--sink', 'nowhere']);
    expect(noSink.stderr).toContain("no sink named 'nowhere' is configured (configured: archive, rotating)");
    expect(noSink.code).toBe(9);
    const badId = await run(['schedule', 'runs', 'x']);
    expect(badId.stderr).toContain("'x' is not a schedule id");
    expect(badId.code).toBe(9);
    const usage = await run(['stored', 'download', 'web-app']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--sink NAME is required');

    const plain = await stack.startExtraApi();
    const off = await run(['schedule', 'list'], plain);
    expect(off.stderr).toMatch(
      /^pcap: scheduled captures are not enabled on this pcap API \(http:\/\/127\.0\.0\.1:\d+\); ask its operator\n$/,
    );
    expect(off.code).toBe(11);
  }, 30000);

  it('the plugin metadata lists the schedule and stored commands; help texts', async () => {
    const meta = await fake.run(plugin, ['SendMetadata'], { loggedIn: false, apiEndpoint: '' });
    expect(meta.code).toBe(0);
    const usage = (meta.record.metadata as { Commands: Array<{ UsageDetails: { Usage: string } }> })
      .Commands[0]!.UsageDetails.Usage;
    for (const line of [
      'cf pcap schedule create APP (--at TIME | --cron EXPR',
      'cf pcap schedule runs ID [--limit N]',
      'cf pcap stored download APP CAPTURE_ID [PART]',
      'cf pcap stored download APP CAPTURE_ID --all --sink NAME (-o DIR|- [--force] | --url)',
    ])
      expect(usage).toContain(line);
    expect(await ok(['schedule', '-h'])).toContain('pcap schedule list [APP]');
    expect(await ok(['schedule', 'create', '-h'])).toMatch(/--cron EXPR\s+run by a cron expression/);
    expect(await ok(['stored', 'download', '-h'])).toMatch(/--url\s+print a short-lived presigned URL/);
    expect(await ok(['stored', 'download', '-h'])).toMatch(/--all\s+every part: -o DIR writes/);
  });
});
