/**
 * bench/agent: packets per second through the whole agent, and its memory.
 *
 * A simulated Diego cell (test/support/diego-cell.ts: real runc containers, each in its own network namespace,
 * wired by veth pairs to a "cell" namespace) receives paced UDP load of 106-byte frames from the C generator of
 * bench/capture, run in the cell namespace. The agent runs as its own process from compiled JavaScript with
 * certificates from scripts/gen-certs.sh; a reader process (bench/agent/reader.ts) POSTs /captures for the
 * container over HTTP/2 with mTLS and discards the stream while counting EPBs. At each rate, tcpdump
 * (`-w /dev/null`, the same 2 MiB ring) in the container's namespace captures the same traffic, one after the
 * other. Zero-drop = the reader got every packet sent, and the final ISB shows no kernel drops (isb_ifdrop) and no
 * agent discards (isb_osdrop). Then the agent's RSS (VmRSS): idle after start, and with 5 captures (one per
 * container) running under moderate traffic. Both for the default buffered mode and for immediate mode.
 *
 * Usage (as root): node -r ts-node/register/transpile-only -r tsconfig-paths/register bench/agent/run.ts
 *   [--rates 100000,200000,300000,0] [--immediate-rates 50000,100000,200000] [--seconds 2]
 *   [--rss-pps 20000] [--rss-seconds 3] [--isolation process|in-process] [--gc-pacing-bytes N] [--generator-nice -10] [--generator raw|udp] [--pin on|off]          (rate 0 = unpaced; --immediate-rates '' skips immediate mode)
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DiegoCell, type CellContainer } from '../../test/support/diego-cell';
import { waitForLine } from '../../test/support/test-network';
import {
  BenchArgs,
  BenchProcesses,
  buildBench,
  countFor,
  cpuTicksOf as ticksOf,
  exited,
  FILTER,
  PAYLOAD,
  memoryOf,
  type Memory,
  ROOT as root,
  sleep,
  TCPDUMP_BUFFER_KIB,
  TICKS_PER_SECOND as ticksPerSecond,
  pinGenerator,
  zeroDropVerdict,
  type ZeroDropRun,
} from '../support/bench-kit';
import type { CaptureResult, ReaderResult } from './reader';

const args = new BenchArgs();
const rates = args.numbers('--rates', '100000,200000,300000,0');
const immediateRates = args.numbers('--immediate-rates', '50000,100000,200000');
const seconds = args.number('--seconds', 2);
const rssPps = args.number('--rss-pps', 20000);
const rssSeconds = args.number('--rss-seconds', 3);
/**
 * Niceness of the generator in the rate runs, the same for tcpdump's and the agent's: negative gives it the CPU
 * first, so the agent and the reader cannot slow it down and both tools are offered the same load (0 = as started).
 */
const generatorNice = args.number('--generator-nice', -10);
/** The agent's capture.isolation: `process` (a worker process per capture, the default) or `in-process`. */
const isolation = args.text('--isolation', 'process');
/**
 * Node flags for the agent (space-separated). Default: the production start line's (`npm run start:agent`):
 * a 2 MiB young-generation semi-space keeps V8 from growing it to 16 MiB under the batch allocations.
 */
const agentNodeOptions = args.words('--agent-node-options', '--max-semi-space-size=2');
/** The agent's capture.gc_pacing_bytes; absent = the agent's default. */
const gcPacingBytes = args.has('--gc-pacing-bytes') ? args.number('--gc-pacing-bytes', 0) : undefined;
const CAPTURES = 5;
const APP = 'b3f1c0de-0000-4000-8000-00000000beef';

const binDir = join(__dirname, 'bin');
const jsDir = join(binDir, 'js');
const gen = join(binDir, 'traffic-gen');

// Everything started here, so cleanup can end it by PID, also on failure and on SIGINT.
let cell: DiegoCell | undefined;
let tmp: string | undefined;
const procs = new BenchProcesses(
  async () => {
    await cell?.destroy();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  },
  args.generator(),
  pinGenerator(args.pin()),
);
const track = (child: ChildProcess): ChildProcess => procs.track(child);
const cpuTicksOf = (pid: number): number => ticksOf(pid, true); // with reaped capture workers

/** PIDs of the agent's capture workers (one process per capture). */
function workersOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Private memory (pages mapped by this process only: freed when it exits), in MB. */
function privateMbOf(pid: number): number {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (key: string): number =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? NaN);
  return (kb('Private_Clean') + kb('Private_Dirty')) / 1024;
}

/**
 * The agent's workers together: VmRSS summed (counts the shared libraries they map, also mapped by the agent,
 * once per worker) and their private memory summed (what they add to the agent's own RSS), in MB.
 */
function workersMemory(pid: number): { rssMb: number; privateMb: number } {
  let rssMb = 0;
  let privateMb = 0;
  for (const w of workersOf(pid)) {
    try {
      rssMb += memoryOf(w).rssMb;
      privateMb += privateMbOf(w);
    } catch {
      // exited while we looked
    }
  }
  return { rssMb, privateMb };
}

const mb = (m: Memory): string =>
  `${m.rssMb.toFixed(1)} MB (anon ${m.anonMb.toFixed(1)}, file/shmem ${m.fileMb.toFixed(1)})`;

// ---------------------------------------------------------------------------------------------- traffic

function generate(
  c: CellContainer,
  rate: number,
  count: number,
  nice = 0,
): Promise<{ sent: number; pps: number }> {
  if (!cell) throw new Error('no cell');
  return procs.generate(gen, cell, c, rate, count, nice);
}

// ---------------------------------------------------------------------------------------------- agent

interface Agent {
  child: ChildProcess;
  pid: number;
  port: number;
  immediate: boolean;
  certs: string;
}

async function startAgent(immediate: boolean, certs: string): Promise<Agent> {
  if (!cell || !tmp) throw new Error('no cell');
  const configFile = join(tmp, `agent-${immediate ? 'immediate' : 'buffered'}.yml`);
  // JSON is YAML.
  writeFileSync(
    configFile,
    JSON.stringify({
      listen: { host: '127.0.0.1', port: 0 },
      tls: {
        certificate: join(certs, 'agent.crt'),
        private_key: join(certs, 'agent.key'),
        client_ca: join(certs, 'ca.crt'),
      },
      cell: { name: 'bench-cell/0', container_store: cell.storeFile, runc_root: cell.runcRoot },
      capture: {
        immediate,
        isolation,
        block_timeout_ms: 50,
        max_concurrent: 10,
        drain_timeout_seconds: 5,
        ...(gcPacingBytes !== undefined ? { gc_pacing_bytes: gcPacingBytes } : {}),
      },
    }),
  );
  const child = track(
    spawn(
      process.execPath,
      [
        ...agentNodeOptions,
        '-r',
        'tsconfig-paths/register',
        join(jsDir, 'apps', 'agent', 'src', 'main.js'),
        configFile,
      ],
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
      const m = /listening on [^\s]*:(\d+)/.exec(log);
      if (m) resolve(Number(m[1]));
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`agent exited ${code}: ${log}`)));
    setTimeout(() => reject(new Error(`agent did not start: ${log}`)), 30000);
  });
  return { child, pid: child.pid as number, port, immediate, certs };
}

async function stopAgent(agent: Agent): Promise<void> {
  agent.child.kill('SIGTERM');
  await exited(agent.child, 15000);
}

function bodyFor(c: CellContainer): unknown {
  return { target: { app_guid: c.appId, instance_guid: c.handle }, device: 'eth0', filter: FILTER };
}

interface Reader {
  child: ChildProcess;
  stop(): Promise<ReaderResult>;
}

async function startReader(agent: Agent, containers: readonly CellContainer[]): Promise<Reader> {
  const child = track(
    spawn(
      process.execPath,
      [
        '-r',
        'tsconfig-paths/register',
        join(jsDir, 'bench', 'agent', 'reader.js'),
        JSON.stringify({
          port: agent.port,
          ca: join(agent.certs, 'ca.crt'),
          cert: join(agent.certs, 'api-client.crt'),
          key: join(agent.certs, 'api-client.key'),
          bodies: containers.map(bodyFor),
        }),
      ],
      { cwd: root, env: { ...process.env, TS_NODE_BASEURL: jsDir }, stdio: ['pipe', 'pipe', 'inherit'] },
    ),
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  await waitForLine(child, 'ready', 20000);
  return {
    child,
    async stop(): Promise<ReaderResult> {
      child.stdin?.write('stop\n');
      const code = await exited(child, 20000);
      if (code !== 0) throw new Error(`reader exited ${code}: ${out}`);
      return JSON.parse(out.trim().split('\n').pop() ?? '{}') as ReaderResult;
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

const zeroDrop = (r: RunResult): boolean => r.received === r.sent && r.kernelDrops === 0 && r.discards === 0;

function runTcpdump(c: CellContainer, rate: number): Promise<RunResult> {
  if (!cell) throw new Error('no cell');
  return procs.tcpdump(gen, cell, c, rate, countFor(rate, seconds, procs.generator), generatorNice);
}

function problemsOf(r: CaptureResult): string | undefined {
  const bad = r.messages.filter((m) => !m.startsWith('CAPTURE_STOPPED'));
  if (r.error !== undefined) bad.unshift(r.error);
  if (!r.isb) bad.unshift('no ISB');
  return bad.length > 0 ? bad.join('; ') : undefined;
}

async function runAgent(agent: Agent, c: CellContainer, rate: number): Promise<RunResult> {
  const reader = await startReader(agent, [c]);
  const before = cpuTicksOf(agent.pid);
  const g = await generate(c, rate, countFor(rate, seconds, procs.generator), generatorNice);
  await sleep(150); // > block_timeout_ms: the last block is handed over
  const result = await reader.stop();
  await sleep(200); // the worker has exited and been reaped: its CPU time is in the agent's cutime/cstime
  const cpuUs = ((cpuTicksOf(agent.pid) - before) / ticksPerSecond) * 1e6;
  const r = result.captures[0] as CaptureResult;
  const note = problemsOf(r);
  return {
    tool: agent.immediate ? 'agent immediate' : 'agent buffered',
    rate,
    sentPps: g.pps,
    sent: g.sent,
    received: r.epbs,
    kernelDrops: r.isb?.ifDrop ?? NaN,
    discards: r.isb?.osDrop ?? NaN,
    cpuUsPerPacket: cpuUs / Math.max(r.epbs, 1),
    ...(note ? { note } : {}),
  };
}

function printRun(r: RunResult): void {
  console.log(
    `${r.tool.padEnd(16)} ${(r.rate === 0 ? 'unpaced' : String(r.rate)).padStart(8)} ${r.sentPps.toFixed(0).padStart(8)} ${String(r.sent).padStart(9)} ${String(r.received).padStart(9)} ${String(r.kernelDrops).padStart(8)} ${String(r.discards).padStart(8)}  ${(zeroDrop(r) ? 'yes' : 'no').padStart(4)}  ${r.cpuUsPerPacket.toFixed(3).padStart(7)}${r.note ? `  (${r.note})` : ''}`,
  );
}

const HEADER =
  'tool              target/s   sent/s      sent  received  k.drops discards  0-drop  cpu µs/pkt';

async function measureIdleCpu(agent: Agent): Promise<number> {
  const before = cpuTicksOf(agent.pid);
  await sleep(1000);
  return ((cpuTicksOf(agent.pid) - before) / ticksPerSecond) * 1000; // ms per second
}

interface RssResult {
  started: Memory;
  peak: Memory;
  /** The capture workers' RSS together, and agent + workers, at their sampled peaks. */
  workersPeakMb: number;
  totalPeakMb: number;
  /** Agent RSS + the workers' private memory: shared library pages counted once. */
  totalPrivatePeakMb: number;
  after: Memory;
  perCapture: string[];
  sentPps: number;
}

async function runRss(agent: Agent, containers: readonly CellContainer[]): Promise<RssResult> {
  const reader = await startReader(agent, containers);
  await sleep(300);
  const started = memoryOf(agent.pid);
  let peak = started;
  let workersPeak = 0;
  let totalPeak = 0;
  let totalPrivatePeak = 0;
  const sample = (m: Memory): void => {
    const w = workersMemory(agent.pid);
    workersPeak = Math.max(workersPeak, w.rssMb);
    totalPeak = Math.max(totalPeak, m.rssMb + w.rssMb);
    totalPrivatePeak = Math.max(totalPrivatePeak, m.rssMb + w.privateMb);
  };
  sample(started);
  const sampler = setInterval(() => {
    const m = memoryOf(agent.pid);
    if (m.rssMb > peak.rssMb) peak = m;
    sample(m);
  }, 100);
  let gens: { sent: number; pps: number }[];
  try {
    // One paced generator per container at once; niced, since each spins between sends on a 2-core machine.
    gens = await Promise.all(containers.map((c) => generate(c, rssPps, rssPps * rssSeconds, 19)));
    await sleep(150);
  } finally {
    clearInterval(sampler);
  }
  const last = memoryOf(agent.pid);
  if (last.rssMb > peak.rssMb) peak = last;
  peak = { ...peak, hwmMb: last.hwmMb };
  const result = await reader.stop();
  const perCapture = result.captures.map((r, i) => {
    const note = problemsOf(r);
    return `${r.epbs}/${gens[i]?.sent} pkts, drops ${r.isb?.ifDrop}, discards ${r.isb?.osDrop}${note ? ` (${note})` : ''}`;
  });
  return {
    started,
    peak,
    workersPeakMb: workersPeak,
    totalPeakMb: totalPeak,
    totalPrivatePeakMb: totalPrivatePeak,
    after: memoryOf(agent.pid),
    perCapture,
    sentPps: gens.reduce((s, g) => s + g.pps, 0),
  };
}

// ---------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const t0 = Date.now();
  buildBench(binDir, ['apps/agent/src/main.ts', 'bench/agent/reader.ts']);
  tmp = mkdtempSync(join(tmpdir(), 'bench-agent-'));
  const certs = join(tmp, 'certs');
  execFileSync(join(root, 'scripts', 'gen-certs.sh'), [certs], { stdio: ['ignore', 'pipe', 'pipe'] });
  cell = await DiegoCell.create(
    Array.from({ length: CAPTURES }, () => ({ appId: APP, args: ['sleep', '3600'] })),
  );
  const containers = cell.containers;
  const target = containers[0] as CellContainer;

  console.log(
    `bench/agent: ${PAYLOAD + 42}-byte UDP frames into a runc container's eth0, ${seconds} s per run; ` +
      `agent from compiled JS${agentNodeOptions.length > 0 ? ` (node ${agentNodeOptions.join(' ')})` : ''}, reader over HTTP/2 mTLS; tcpdump -B ${TCPDUMP_BUFFER_KIB} -w /dev/null in the container's namespace`,
  );
  const results: RunResult[] = [];
  const rss: { mode: string; idle: Memory; run: RssResult }[] = [];
  const idleCpu: Record<string, number> = {};

  for (const immediate of [false, true]) {
    const modeRates = immediate ? immediateRates : rates;
    if (immediate && modeRates.length === 0) break;
    const mode = immediate ? 'immediate' : 'buffered';
    const agent = await startAgent(immediate, certs);
    try {
      await sleep(1500);
      const idle = memoryOf(agent.pid);
      idleCpu[mode] = await measureIdleCpu(agent);
      console.log(
        `\nagent (${mode}, pid ${agent.pid}) idle after start: ${mb(idle)}; idle CPU ${idleCpu[mode]?.toFixed(1)} ms/s (included below)`,
      );
      // Memory first, on the fresh agent, so VmHWM is the peak of this phase.
      const run = await runRss(agent, containers);
      rss.push({ mode, idle, run });
      console.log(
        `RSS with ${CAPTURES} captures (${mode}): just started ${mb(run.started)}; peak under ${run.sentPps.toFixed(0)} pkt/s in total ${mb(run.peak)} (VmHWM ${run.peak.hwmMb.toFixed(1)} MB); capture workers together ${run.workersPeakMb.toFixed(1)} MB, agent + workers ${run.totalPeakMb.toFixed(1)} MB RSS summed, agent RSS + workers' private memory ${run.totalPrivatePeakMb.toFixed(1)} MB; after they ended ${mb(run.after)}`,
      );
      for (const [i, line] of run.perCapture.entries()) console.log(`  capture ${i + 1}: ${line}`);
      console.log(HEADER);
      for (const rate of modeRates) {
        if (!immediate) {
          const t = await runTcpdump(target, rate);
          results.push(t);
          printRun(t);
        }
        const a = await runAgent(agent, target, rate);
        results.push(a);
        printRun(a);
      }
      console.log(`agent RSS after the runs above: ${mb(memoryOf(agent.pid))}`);
    } finally {
      await stopAgent(agent);
    }
  }

  // ---- summary
  const best = (tool: string): RunResult | undefined =>
    results.filter((r) => r.tool === tool && zeroDrop(r)).sort((a, b) => b.sentPps - a.sentPps)[0];
  console.log('\nsummary (highest rate with zero drops; CPU per packet at that rate)');
  for (const tool of ['tcpdump -w', 'agent buffered', 'agent immediate']) {
    if (!results.some((r) => r.tool === tool)) continue;
    const b = best(tool);
    if (!b) {
      console.log(`${tool.padEnd(16)} no zero-drop run`);
      continue;
    }
    const sameRateRef = results.find((r) => r.tool === 'tcpdump -w' && r.rate === b.rate);
    console.log(
      `${tool.padEnd(16)} ${b.sentPps.toFixed(0).padStart(8)} pkt/s` +
        `  cpu ${b.cpuUsPerPacket.toFixed(3)} µs/pkt` +
        (sameRateRef && tool !== 'tcpdump -w'
          ? ` (${(b.cpuUsPerPacket / sameRateRef.cpuUsPerPacket).toFixed(1)}× tcpdump's at ${b.rate === 0 ? 'the unpaced rate' : `${b.rate}/s`})`
          : ''),
    );
  }
  const tcpdumpRuns = results.filter((r) => r.tool === 'tcpdump -w');
  if (tcpdumpRuns.length > 0) {
    const asRun = (r: RunResult): ZeroDropRun => ({ ...r, zeroDrop: zeroDrop(r) });
    const agentRuns = results.filter((r) => r.tool === 'agent buffered').map(asRun);
    console.log(zeroDropVerdict('the agent', 1.2, agentRuns, tcpdumpRuns.map(asRun)));
  }
  for (const r of rss) {
    console.log(
      `RSS ${r.mode.padEnd(9)}: idle ${r.idle.rssMb.toFixed(1)} MB; ${CAPTURES} captures: peak ${r.run.peak.rssMb.toFixed(1)} MB sampled, VmHWM ${r.run.peak.hwmMb.toFixed(1)} MB, + workers ${r.run.workersPeakMb.toFixed(1)} MB = ${r.run.totalPeakMb.toFixed(1)} MB RSS summed (shared libraries counted per process), agent RSS + workers' private memory ${r.run.totalPrivatePeakMb.toFixed(1)} MB (target ≤ 120 MB for agent + workers: RSS sum ${r.run.totalPeakMb <= 120 ? 'met' : 'NOT met'}, agent RSS + workers' private ${r.run.totalPrivatePeakMb <= 120 ? 'met' : 'NOT met'})`,
    );
  }
  console.log(`total time ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => procs.cleanup());
