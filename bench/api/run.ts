/**
 * bench/api: packets per second through the full path, container namespace → agent → HTTP/2 mTLS → API → a client
 * writing a file, side by side with tcpdump on the same traffic; and a fan-in of 10 instances through one API.
 *
 * Two simulated Diego cells (test/support/diego-cell.ts: real runc containers, each in its own network namespace)
 * with 5 containers each, all instances of one app. One agent per cell (compiled JavaScript, `node
 * --max-semi-space-size=2` as `npm run start:agent`) on 127.0.0.2 / 127.0.0.3; the UAA and Cloud Controller doubles
 * (test/support) run in this process and report those agents as the cells' `host`; the API runs as its own process
 * from compiled JavaScript with a config file (`node --max-semi-space-size=4 --initial-old-space-size=64 main.js
 * <config.yml>` as `npm run start:api`, plain HTTP on 127.0.0.1). A client
 * process (bench/api/client.ts) POSTs /captures with a UAA double token and writes the stream to a file: by default
 * through the CLI's own capture code (`--client cli`, what `cf pcap APP -o FILE` runs), or a plain HTTP request
 * (`--client http`); the file is then read back and its EPBs counted. Paced load of 106-byte UDP frames comes from the C generator of bench/capture, run in the cell
 * namespace. tcpdump (`-w /dev/null`, 2 MiB ring, the agent's default) in the container's namespace captures the
 * same traffic, one run after the other. Zero-drop = the client got every packet sent, the final ISBs show no
 * kernel drops (isb_ifdrop) and no agent discards (isb_osdrop), and there is no CONGESTED message (API discards).
 * The fan-in: one capture of all 10 instances, each receiving paced traffic at once; the API's RSS (VmRSS, VmHWM)
 * and CPU per packet from /proc.
 *
 * Usage (as root): node -r ts-node/register/transpile-only -r tsconfig-paths/register bench/api/run.ts
 *   [--rates 100000,200000,300000,0] [--seconds 2] [--fan-in-pps 10000] [--fan-in-seconds 3]
 *   [--isolation process|in-process] [--gc-pacing-bytes N] [--api-node-options '--flag ...'] [--generator-nice -10] [--generator raw|udp] [--pin on|off]   (rate 0 = unpaced)
 *   [--service-logs DIR] [--client cli|http]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { baseModel, type CfWorld, SPACE_DEV, startCfWorld, USERS } from '../../test/support/api-harness';
import { DiegoCell, type CellContainer } from '../../test/support/diego-cell';
import { waitForLine } from '../../test/support/test-network';
import {
  BenchArgs,
  BenchProcesses,
  buildBench,
  countFor,
  cpuTicksOf,
  exited,
  FILTER,
  memoryOf,
  type Memory,
  PAYLOAD,
  ROOT as root,
  sleep,
  TCPDUMP_BUFFER_KIB,
  TICKS_PER_SECOND as ticksPerSecond,
  pinGenerator,
  zeroDropVerdict,
  type ZeroDropRun,
} from '../support/bench-kit';
import type { ClientResult } from './client';

const args = new BenchArgs();
const rates = args.numbers('--rates', '100000,200000,300000,0');
const seconds = args.number('--seconds', 2);
const fanInPps = args.number('--fan-in-pps', 10000);
const fanInSeconds = args.number('--fan-in-seconds', 3);
/** The agents' capture.isolation: `process` (a worker process per capture, the default) or `in-process`. */
const isolation = args.text('--isolation', 'process');
/** The agents' capture.gc_pacing_bytes and the API's stream.gc_pacing_bytes; absent = their defaults. */
const gcPacing = args.has('--gc-pacing-bytes')
  ? { gc_pacing_bytes: args.number('--gc-pacing-bytes', 0) }
  : {};
/**
 * Niceness of the generator in the one-instance runs, the same for tcpdump's and the full path's: negative gives it
 * the CPU first, so that on few cores the agent, the API and the client cannot slow it down and both tools are
 * offered the same rate (default -10; 0 = as started).
 */
const generatorNice = args.number('--generator-nice', -10);
const AGENT_NODE_OPTIONS = ['--max-semi-space-size=2']; // as `npm run start:agent`
/**
 * Node flags for the API process (space-separated); default as `npm run start:api` and the BOSH job start it. Add
 * e.g. `--perf-basic-prof` for profiling, `--trace-gc` with `--service-logs`; `''` = Node's defaults.
 */
const API_NODE_OPTIONS = args.words(
  '--api-node-options',
  '--max-semi-space-size=4 --initial-old-space-size=64',
);
/**
 * The client: `cli` (default) runs the capture with the CLI's own code (cli/src/core runCapture, as `cf pcap APP -o
 * FILE`); `http` with a plain Node HTTP request piped into the file (bench/api/client.ts).
 */
const clientKind = args.text('--client', 'cli');
/** A directory to write the agents' and the API's output into (`<name>.log`: logs, and e.g. --trace-gc); default none. */
const serviceLogs = args.text('--service-logs', '');
const PER_CELL = 5;
const APP = { guid: '1cb006ee-0000-4000-8000-0000000be4c1', name: 'bench-app' };
const HOSTS = ['127.0.0.2', '127.0.0.3'] as const;

const binDir = join(__dirname, 'bin');
const jsDir = join(binDir, 'js');
const gen = join(binDir, 'traffic-gen');

// Everything started here, so cleanup can end it by PID, also on failure and on SIGINT.
const cells: DiegoCell[] = [];
let world: CfWorld | undefined;
let tmp: string | undefined;
const procs = new BenchProcesses(
  async () => {
    for (const cell of cells) await cell.destroy().catch((err: unknown) => console.error(err));
    await world?.stop().catch(() => undefined);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  },
  args.generator(),
  pinGenerator(args.pin()),
);
const track = (child: ChildProcess): ChildProcess => procs.track(child);

// ---------------------------------------------------------------------------------------------- processes

/** Starts a compiled entry point with a config file; resolves with its port from the `listening on` line. */
async function startService(
  name: string,
  main: string,
  config: unknown,
  nodeOptions: readonly string[],
): Promise<{ child: ChildProcess; pid: number; port: number; log: () => string }> {
  if (!tmp) throw new Error('no tmp');
  const configFile = join(tmp, `${name}.yml`);
  writeFileSync(configFile, JSON.stringify(config)); // JSON is YAML
  const child = track(
    spawn(
      process.execPath,
      [...nodeOptions, '-r', 'tsconfig-paths/register', join(jsDir, main), configFile],
      {
        cwd: root, // the addon is found under libs/capture/native from here
        env: { ...process.env, TS_NODE_BASEURL: jsDir, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    ),
  );
  let log = '';
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      log += d.toString();
      if (serviceLogs) appendFileSync(join(serviceLogs, `${name}.log`), d);
      if (log.length > 1_000_000) log = log.slice(-100_000);
      const m = /listening on [^\s"]*:(\d+)/.exec(log);
      if (m) resolve(Number(m[1]));
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${name} exited ${code}: ${log}`)));
    setTimeout(() => reject(new Error(`${name} did not start: ${log}`)), 30000);
  });
  return { child, pid: child.pid as number, port, log: () => log };
}

function generate(
  cell: DiegoCell,
  c: CellContainer,
  rate: number,
  count: number,
  nice = 0,
): Promise<{ sent: number; pps: number }> {
  return procs.generate(gen, cell, c, rate, count, nice);
}

interface Client {
  child: ChildProcess;
  pid: number;
  result(): Promise<ClientResult>;
}

async function startClient(apiPort: number, body: Record<string, unknown>, out: string): Promise<Client> {
  if (!world) throw new Error('no world');
  const child = track(
    spawn(
      process.execPath,
      [
        '-r',
        'tsconfig-paths/register',
        join(jsDir, 'bench', 'api', 'client.js'),
        JSON.stringify({
          url: `http://127.0.0.1:${apiPort}`,
          body,
          out,
          client: clientKind,
        }),
      ],
      {
        cwd: root,
        // The token goes in the environment, not argv: a process's environment is readable by its owner only.
        env: {
          ...process.env,
          TS_NODE_BASEURL: jsDir,
          PCAP_BENCH_TOKEN: world.uaa.mintUserToken(USERS.developer),
        },
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    ),
  );
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  await waitForLine(child, 'ready', 20000).catch((err: unknown) => {
    throw new Error(`client: ${stdout || String(err)}`);
  });
  return {
    child,
    pid: child.pid as number,
    async result(): Promise<ClientResult> {
      // The capture ends by its duration, which can be later than the generators (a margin for slow ones).
      const code = await exited(child, Number(body['duration_seconds'] ?? 0) * 1000 + 60_000);
      if (code !== 0) throw new Error(`client exited ${code}: ${stdout}`);
      return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as ClientResult;
    },
  };
}

// ---------------------------------------------------------------------------------------------- runs

interface RunResult {
  tool: string;
  rate: number;
  sentPps: number;
  sent: number;
  received: number;
  kernelDrops: number;
  discards: number;
  cpuUsPerPacket: number;
  note?: string;
}

const zeroDrop = (r: RunResult): boolean =>
  r.received === r.sent && r.kernelDrops === 0 && r.discards === 0 && r.note === undefined;

function runTcpdump(cell: DiegoCell, c: CellContainer, rate: number): Promise<RunResult> {
  return procs.tcpdump(gen, cell, c, rate, countFor(rate, seconds, procs.generator), generatorNice);
}

function problemsOf(r: ClientResult, instances: number): string | undefined {
  const bad = r.messages.filter((m) => !m.startsWith('CAPTURE_STOPPED') && !m.startsWith('LIMIT_REACHED'));
  if (r.error !== undefined) bad.unshift(r.error);
  if (r.isbs.length < instances) bad.unshift(`${r.isbs.length}/${instances} ISBs`);
  return bad.length > 0 ? bad.join('; ') : undefined;
}

interface FullPathRun extends RunResult {
  apiCpuUs: number;
  agentCpuUs: number;
  clientCpuUs: number;
  apiMemory: Memory;
}

/** One capture through the API of `targets` (instance indexes), each container getting `rate` for `secs`. */
async function runFullPath(
  api: { pid: number; port: number },
  agentPids: readonly number[],
  targets: readonly { cell: DiegoCell; c: CellContainer; index: number }[],
  rate: number,
  secs: number,
  tool: string,
  onSample?: (m: Memory) => void,
): Promise<FullPathRun> {
  if (!tmp) throw new Error('no tmp');
  const count = countFor(rate, secs, procs.generator);
  // The capture ends by its duration (graceful: the agents drain and send their final ISBs); long enough for
  // the generator even when it runs slower than asked.
  const duration = Math.ceil((count / (rate > 0 ? rate : 150_000)) * 1.5) + 3;
  const out = join(tmp, `capture-${tool.replace(/\W+/g, '-')}-${rate}.pcapng`);
  const client = await startClient(
    api.port,
    {
      app_guid: APP.guid,
      instances: targets.map((t) => t.index),
      filter: FILTER,
      duration_seconds: duration,
    },
    out,
  );
  await sleep(300); // every agent has started its capture once the headers are in; let the pipes settle
  const apiBefore = cpuTicksOf(api.pid);
  // Agents: with their capture workers, which have exited and been reaped by the time of the second reading.
  const agentsBefore = agentPids.map((pid) => cpuTicksOf(pid, true));
  const sampler = onSample ? setInterval(() => onSample(memoryOf(api.pid)), 100) : undefined;
  let gens: { sent: number; pps: number }[];
  let result: ClientResult;
  try {
    gens = await Promise.all(
      targets.map((t) => generate(t.cell, t.c, rate, count, targets.length > 1 ? 19 : generatorNice)),
    );
    result = await client.result();
  } finally {
    if (sampler) clearInterval(sampler);
  }
  const apiCpuUs = ((cpuTicksOf(api.pid) - apiBefore) / ticksPerSecond) * 1e6;
  await sleep(200); // the agents' workers exit after their final statistics and are then reaped
  const agentCpuUs =
    (agentPids.reduce((s, pid, i) => s + cpuTicksOf(pid, true) - (agentsBefore[i] ?? 0), 0) /
      ticksPerSecond) *
    1e6;
  rmSync(out, { force: true });
  const note = problemsOf(result, targets.length);
  const sent = gens.reduce((s, g) => s + g.sent, 0);
  return {
    tool,
    rate,
    sentPps: gens.reduce((s, g) => s + g.pps, 0),
    sent,
    received: result.epbs,
    kernelDrops: result.isbs.reduce((s, i) => s + (i.ifDrop ?? NaN), 0),
    discards: result.isbs.reduce((s, i) => s + (i.osDrop ?? NaN), 0),
    cpuUsPerPacket: apiCpuUs / Math.max(result.epbs, 1),
    apiCpuUs,
    agentCpuUs,
    clientCpuUs: result.clientCpuUs,
    apiMemory: memoryOf(api.pid),
    ...(note ? { note } : {}),
  };
}

function printRun(r: RunResult): void {
  const full = r as Partial<FullPathRun>;
  const extra =
    full.agentCpuUs !== undefined
      ? `  agent+workers ${(full.agentCpuUs / Math.max(r.received, 1)).toFixed(3)}, client ${((full.clientCpuUs ?? 0) / Math.max(r.received, 1)).toFixed(3)}`
      : '';
  console.log(
    `${r.tool.padEnd(12)} ${(r.rate === 0 ? 'unpaced' : String(r.rate)).padStart(8)} ${r.sentPps.toFixed(0).padStart(8)} ${String(r.sent).padStart(9)} ${String(r.received).padStart(9)} ${String(r.kernelDrops).padStart(8)} ${String(r.discards).padStart(8)}  ${(zeroDrop(r) ? 'yes' : 'no').padStart(4)}  ${r.cpuUsPerPacket.toFixed(3).padStart(7)}${extra}${r.note ? `  (${r.note})` : ''}`,
  );
}

const HEADER =
  'path          target/s   sent/s      sent  received  k.drops discards  0-drop  cpu µs/pkt (tcpdump / API; agent, client)';

// ---------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const t0 = Date.now();
  buildBench(binDir, ['apps/api/src/main.ts', 'apps/agent/src/main.ts', 'bench/api/client.ts']);
  tmp = mkdtempSync(join(tmpdir(), 'bench-api-'));
  const certs = join(tmp, 'certs');
  execFileSync(join(root, 'scripts', 'gen-certs.sh'), [certs], { stdio: ['ignore', 'pipe', 'pipe'] });
  for (let i = 0; i < HOSTS.length; i++) {
    cells.push(
      await DiegoCell.create(
        Array.from({ length: PER_CELL }, () => ({ appId: APP.guid, args: ['sleep', '3600'] })),
      ),
    );
  }
  const targets = cells.flatMap((cell, ci) => cell.containers.map((c) => ({ cell, c, host: HOSTS[ci] })));
  const indexed = targets.map((t, index) => ({ ...t, index }));

  const agents = await Promise.all(
    cells.map((cell, i) =>
      startService(
        `agent-${i}`,
        join('apps', 'agent', 'src', 'main.js'),
        {
          listen: { host: HOSTS[i], port: 0 },
          tls: {
            certificate: join(certs, 'agent.crt'),
            private_key: join(certs, 'agent.key'),
            client_ca: join(certs, 'ca.crt'),
          },
          cell: { name: `bench-cell/${i}`, container_store: cell.storeFile, runc_root: cell.runcRoot },
          capture: {
            isolation,
            block_timeout_ms: 50,
            max_concurrent: 20,
            drain_timeout_seconds: 5,
            ...gcPacing,
          },
        },
        AGENT_NODE_OPTIONS,
      ),
    ),
  );
  world = await startCfWorld(
    baseModel([
      {
        ...APP,
        spaceGuid: SPACE_DEV.guid,
        processes: [
          {
            type: 'web',
            instances: targets.map((t) => ({
              state: 'RUNNING' as const,
              host: t.host as string,
              instanceGuid: t.c.handle,
              internalIp: t.c.ip,
            })),
          },
        ],
      },
    ]),
  );
  const api = await startService(
    'api',
    join('apps', 'api', 'src', 'main.js'),
    {
      listen: { host: '127.0.0.1', port: 0 },
      uaa: { url: world.uaa.url },
      cloud_controller: { url: world.cc.url },
      agents: {
        endpoints: Object.fromEntries(HOSTS.map((h, i) => [h, `${h}:${agents[i]?.port}`])),
        mtls: {
          certificate: join(certs, 'api-client.crt'),
          private_key: join(certs, 'api-client.key'),
          ca: join(certs, 'ca.crt'),
          server_name: 'localhost',
        },
      },
      logging: { format: 'json' },
      stream: { ...gcPacing },
    },
    API_NODE_OPTIONS,
  );
  const agentPids = agents.map((a) => a.pid);
  const one = indexed[0] as (typeof indexed)[number];

  console.log(
    `bench/api: ${PAYLOAD + 42}-byte UDP frames into runc containers' eth0; 2 cells × ${PER_CELL} containers, ` +
      `an agent per cell (compiled JS, node ${AGENT_NODE_OPTIONS.join(' ')}), the API (compiled JS, own process, ` +
      `node ${API_NODE_OPTIONS.join(' ') || '(no flags)'}, ` +
      `pid ${api.pid}), a client over HTTP/1.1 writing the stream to a file (${clientKind === 'cli' ? "the CLI's runCapture" : 'plain Node HTTP'}); tcpdump -B ${TCPDUMP_BUFFER_KIB} -w /dev/null in the container's namespace`,
  );
  await sleep(1000);
  const idle = memoryOf(api.pid);
  console.log(`API idle after start: VmRSS ${idle.rssMb.toFixed(1)} MB`);

  // ---- fan-in first, on the fresh API, so VmHWM is the peak of this phase
  let peak = idle;
  const fan = await runFullPath(
    api,
    agentPids,
    indexed,
    fanInPps,
    fanInSeconds,
    `fan-in ${indexed.length}`,
    (m) => {
      if (m.rssMb > peak.rssMb) peak = m;
    },
  );
  console.log(
    `\nfan-in: one capture of ${indexed.length} instances over ${cells.length} cells, ${fanInPps} pkt/s each for ${fanInSeconds} s (niced generators)`,
  );
  console.log(HEADER);
  printRun(fan);
  const fanHwm = fan.apiMemory.hwmMb;
  console.log(
    `API during the fan-in: VmRSS peak ${Math.max(peak.rssMb, fan.apiMemory.rssMb).toFixed(1)} MB sampled, VmHWM ${fanHwm.toFixed(1)} MB; ` +
      `API CPU ${(fan.apiCpuUs / 1000).toFixed(0)} ms = ${fan.cpuUsPerPacket.toFixed(3)} µs/pkt over ${fan.received} packets ` +
      `(agents ${(fan.agentCpuUs / Math.max(fan.received, 1)).toFixed(3)} µs/pkt)`,
  );

  // ---- one instance, full path and tcpdump at each rate
  console.log(
    `\none instance (index 0), ${seconds} s per run, generator at nice ${generatorNice} for both tools`,
  );
  console.log(HEADER);
  const results: RunResult[] = [];
  for (const rate of rates) {
    const t = await runTcpdump(one.cell, one.c, rate);
    results.push(t);
    printRun(t);
    const a = await runFullPath(api, agentPids, [one], rate, seconds, 'full path');
    results.push(a);
    printRun(a);
  }
  console.log(
    `API after the runs: VmRSS ${memoryOf(api.pid).rssMb.toFixed(1)} MB, VmHWM ${memoryOf(api.pid).hwmMb.toFixed(1)} MB`,
  );

  // ---- summary
  const best = (tool: string): RunResult | undefined =>
    results.filter((r) => r.tool === tool && zeroDrop(r)).sort((a, b) => b.sentPps - a.sentPps)[0];
  console.log('\nsummary (highest rate with zero drops)');
  for (const tool of ['tcpdump -w', 'full path']) {
    const b = best(tool);
    console.log(
      b
        ? `${tool.padEnd(12)} ${b.sentPps.toFixed(0).padStart(8)} pkt/s  cpu ${b.cpuUsPerPacket.toFixed(3)} µs/pkt${tool === 'full path' ? ' (API)' : ''}`
        : `${tool.padEnd(12)} no zero-drop run`,
    );
  }
  const asRun = (r: RunResult): ZeroDropRun => ({ ...r, zeroDrop: zeroDrop(r) });
  const of = (tool: string): ZeroDropRun[] => results.filter((r) => r.tool === tool).map(asRun);
  console.log(zeroDropVerdict('full path', 1.0, of('full path'), of('tcpdump -w')));
  console.log(
    `target fan-in (${indexed.length} instances) API RSS ≤ 200 MB: ${fanHwm <= 200 ? 'met' : 'NOT met'} (VmHWM ${fanHwm.toFixed(1)} MB); ` +
      `fan-in ${zeroDrop(fan) ? 'without drops' : 'WITH drops/problems'}; API CPU ${fan.cpuUsPerPacket.toFixed(3)} µs/pkt`,
  );
  // A graceful stop (SIGTERM drains, then exits 0), so that e.g. `--api-node-options --cpu-prof` gets written.
  api.child.kill('SIGTERM');
  await exited(api.child, 15000);
  console.log(`total time ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => procs.cleanup());
