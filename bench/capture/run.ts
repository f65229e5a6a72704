/**
 * bench/capture: our engine and tcpdump capture the same paced UDP load (106-byte frames) on a veth inside a
 * test namespace, one after the other at each rate. Prints, per tool, the highest rate with zero kernel drops
 * (every packet sent was captured), CPU µs per packet at each rate, the ratios, and our worst event-loop delay.
 *
 * Each engine row is two runs of the same load: one measures CPU, the other the event-loop delay. The delay is
 * sampled by a 10 ms timer (monitorEventLoopDelay), which wakes the process 100 times a second and measured about
 * 12% of the engine's CPU at 300k packets/s: an instrument's cost, not the capture's (tcpdump runs without one).
 * A run counts as zero-drop only when both runs were.
 *
 * `native reader (C)` is the engine's read path with no runtime around it (native-reader.cc: the addon's libpcap
 * handle and EPB writer, 1 MiB batches written to /dev/null): the floor any capture on libpcap pays, against which
 * Node's share of the engine rows shows.
 *
 * The generator runs at nice -10 (`--generator-nice`) for every tool, so the capturing process cannot slow it down
 * and all are offered the same load, and on a CPU of its own (`--pin`): the tools run on the others.
 *
 * CPU time on this kind of machine (a VM sharing its host) varies by 10–30% from one run to the next: `--repeat N`
 * runs every row N times, interleaved, and the summary takes each row's median CPU (and its worst drops and delay).
 *
 * Usage: npm run bench:capture [-- --rates 50000,100000,0 --seconds 6 --repeat 3 --gc-pacing-bytes 1048576 --batch-pool 4 --skip-immediate --generator-nice -10 --generator raw|udp --pin on|off --buffer-size 2097152 --only 'tcpdump -w,engine (buffered)']   (rate 0 = unpaced)
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { TestNetwork, waitForLine } from '../../test/support/test-network';
import {
  BenchArgs,
  countFor,
  generatorPrefix,
  pinGenerator,
  zeroDropVerdict,
  type ZeroDropRun,
} from '../support/bench-kit';
import { cpuUsOf } from '../support/cpu-time';

interface RunResult {
  tool: string;
  rate: number;
  sentPps: number;
  sent: number;
  captured: number;
  dropped: number;
  cpuUsPerPacket: number;
  /** Engine rows: the worst event-loop delay, from the second run of the same load. */
  maxLoopDelayMs?: number;
  /** Engine rows: packets the loop-delay run did not capture (sent − captured; it must be 0 too). */
  delayRunLost?: number;
  /** Engine runs: packets per batch handed to JavaScript, on average. */
  packetsPerBatch?: number;
  /** Engine and native reader runs: wake-ups that read the kernel's ring (stats().reads). */
  reads?: number;
}

const args = process.argv.slice(2);
const argOf = (name: string, fallback: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? (args[i + 1] as string) : fallback;
};
const rates = argOf('--rates', '100000,200000,300000,0').split(',').map(Number);
/**
 * Seconds of load per run. 6 by default: in shorter runs V8's start-up compilation (the first batch callbacks take
 * ~800 µs) weighs on few packets; a run of 6 s also ends before V8's memory reducer (~8 s after start, once).
 */
const seconds = Number(argOf('--seconds', '6'));
const repeat = Math.max(1, Number(argOf('--repeat', '1')));
/** GcPacer budget of the engine's process, as the agent's capture.gc_pacing_bytes (default the same 1 MiB; 0 = off). */
const gcPacingBytes = argOf('--gc-pacing-bytes', String(1 << 20));
/**
 * The engine's reusable batch buffers (`batchPool`; 0 = a fresh buffer per batch). Its consumer writes each batch
 * synchronously and releases it, as a capture-to-file would, taking the batches through the `onBatch` option.
 * The bench also runs the engine read through its stream ('engine (stream)'), without a pool ('engine (no pool)',
 * 'engine (isolated, no pool)': the agent's case, whose batches travel on) and in a worker process.
 */
const batchPool = argOf('--batch-pool', '4');
/** Leaves out the immediate-mode runs (the slowest; not the agent's default). */
const skipImmediate = args.includes('--skip-immediate');
/** `--only 'tcpdump -w,engine (buffered)'`: just these rows (their names as printed). */
const only = args.includes('--only') ? argOf('--only', '').split(',') : undefined;
const generatorNice = Number(argOf('--generator-nice', '-10'));
const kit = new BenchArgs(args);
/** How the generator sends (bench-kit's GeneratorKind): `raw` (default, ~1.9 M packets/s here) or `udp` (~0.9 M). */
const generator = kit.generator();
/** `--pin on` (default): the generator on the last CPU, this process and the tools on the others (bench-kit). */
const generatorCpu = pinGenerator(kit.pin());
/**
 * The kernel ring of every tool, the same for all (`tcpdump -B`): libpcap's and tcpdump's default 2 MiB unless
 * `--buffer-size` says otherwise. With 4 MiB or more the engine paces its reads under a steady high rate
 * (docs/capture-engine.md); tcpdump reads at every kernel block whatever the ring.
 */
const bufferBytes = Number(argOf('--buffer-size', String(2 * 1024 * 1024)));
const PAYLOAD = 64; // 14 Ethernet + 20 IPv4 + 8 UDP + 64 = 106-byte frames
const PORT = 9123;
const FILTER = `udp dst port ${PORT}`;

const root = join(__dirname, '..', '..');
const binDir = join(__dirname, 'bin');
const gen = join(binDir, 'traffic-gen');
const nativeReader = join(binDir, 'native-reader');
const jsDir = join(binDir, 'js');
mkdirSync(binDir, { recursive: true });
execFileSync('gcc', ['-O2', '-o', gen, join(__dirname, 'traffic-gen.c')]);
const nativeSrc = join(root, 'libs', 'capture', 'native', 'src');
// the addon's flags (libs/capture/native/binding.gyp)
execFileSync('g++', [
  '-std=c++17',
  '-O2',
  '-Wall',
  '-Wextra',
  `-I${nativeSrc}`,
  '-o',
  nativeReader,
  join(__dirname, 'native-reader.cc'),
  join(nativeSrc, 'pcap-open.cc'),
  join(nativeSrc, 'netns.cc'),
  '-lpcap',
  '-pthread',
]);
// The engine runs from compiled JavaScript, as in production: under ts-node the TypeScript compiler's heap
// makes every major GC several times dearer and would be measured as capture cost.
execFileSync(
  process.execPath,
  [
    require.resolve('typescript/bin/tsc'),
    '-p',
    join(root, 'tsconfig.json'),
    '--outDir',
    jsDir,
    '--rootDir',
    root,
    '--sourceMap',
    'false',
  ],
  { stdio: 'inherit' },
);

async function generate(net: TestNetwork, rate: number): Promise<{ sent: number; pps: number }> {
  // rate 0 = unpaced: as fast as the generator goes
  const count = countFor(rate, seconds, generator);
  const genArgs = [net.b.ip, String(PORT), String(rate), String(count), String(PAYLOAD)];
  if (generator === 'raw') genArgs.push(net.a.device);
  const [cmd, ...rest] = [
    ...generatorPrefix(generatorCpu),
    ...(generatorNice !== 0 ? ['nice', '-n', String(generatorNice)] : []),
    gen,
    ...genArgs,
  ] as [string, ...string[]];
  const out = await net.exec(net.a, cmd, rest, 120000);
  const r = JSON.parse(out) as { sent: number; pps: number };
  return { sent: r.sent, pps: r.pps };
}

/**
 * A capturing process in the test namespace (`ip netns exec` execs it in place, so the child's pid is the tool's):
 * once it prints `readyLine`, its CPU from just before the load until `tailMs` after it (while the tool hands over
 * the tail), then SIGINT; resolves with the load, that CPU and what the tool printed.
 */
async function measureCapture(
  net: TestNetwork,
  rate: number,
  command: string,
  args: string[],
  readyLine: string,
  tailMs: number,
): Promise<{ sent: number; pps: number; cpuUs: number; stdout: string; stderr: string }> {
  const child = net.spawn(net.b, command, args);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  await waitForLine(child, readyLine);
  const pid = child.pid as number;
  const before = cpuUsOf(pid);
  const g = await generate(net, rate);
  await new Promise((r) => setTimeout(r, tailMs));
  const cpuUs = cpuUsOf(pid) - before;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGINT');
  await exited;
  return { ...g, cpuUs, stdout, stderr };
}

async function runTcpdump(net: TestNetwork, rate: number): Promise<RunResult> {
  const args = [
    '-i',
    net.b.device,
    '-n',
    '-Z',
    'root',
    '-B',
    String(bufferBytes / 1024),
    '-w',
    '/dev/null',
    FILTER,
  ];
  // tcpdump's 1 s block timeout hands over the tail
  const m = await measureCapture(net, rate, 'tcpdump', args, 'listening on', 1200);
  const captured = Number(/(\d+) packets captured/.exec(m.stderr)?.[1] ?? NaN);
  const dropped = Number(/(\d+) packets dropped by kernel/.exec(m.stderr)?.[1] ?? NaN);
  return {
    tool: 'tcpdump -w',
    rate,
    sentPps: m.pps,
    sent: m.sent,
    captured,
    dropped,
    cpuUsPerPacket: m.cpuUs / Math.max(captured, 1),
  };
}

async function runNativeReader(net: TestNetwork, rate: number): Promise<RunResult> {
  const args = [net.b.device, FILTER, String(bufferBytes), '/dev/null'];
  // the 100 ms block timeout hands over the tail
  const m = await measureCapture(net, rate, nativeReader, args, 'ready', 300);
  const r = JSON.parse(m.stdout.trim().split('\n').pop() ?? '{}') as {
    captured: number;
    dropped: number;
    reads: number;
  };
  return {
    tool: 'native reader (C)',
    rate,
    sentPps: m.pps,
    sent: m.sent,
    captured: r.captured,
    dropped: r.dropped,
    cpuUsPerPacket: m.cpuUs / Math.max(r.captured, 1),
    reads: r.reads,
  };
}

interface EngineRun {
  tool: string;
  immediate?: boolean;
  /** No traffic: the engine's own CPU per second (then reported in cpuUsPerPacket, as ms/s). */
  idle?: boolean;
  /** IsolatedCapture (a worker process, as the agent captures) instead of LiveCapture. */
  isolated?: boolean;
  /** batchPool; default the --batch-pool value. */
  pool?: string;
  /** How the consumer takes batches: the onBatch option (default) or 'data' events. */
  consumer?: 'callback' | 'stream';
}

/** One engine process on one load; `monitor`: sample the event-loop delay (which costs CPU of its own). */
async function runEngineOnce(
  net: TestNetwork,
  rate: number,
  run: EngineRun,
  monitor: boolean,
): Promise<RunResult> {
  const { immediate = false, idle = false, isolated = false, pool = batchPool, consumer = 'callback' } = run;
  const child = spawn(
    process.execPath,
    [
      '-r',
      'tsconfig-paths/register',
      join(jsDir, 'bench', 'capture', 'engine-capture.js'),
      net.b.netnsPath,
      net.b.device,
      FILTER,
      '/dev/null',
      immediate ? '1' : '0',
      // immediate mode gets the engine's snaplen-aware ring (one fixed slot per packet); buffered the same 2 MiB as tcpdump
      String(immediate ? 0 : bufferBytes),
      isolated ? 'isolated' : 'live',
      gcPacingBytes,
      pool,
      consumer,
      monitor ? '1' : '0',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], cwd: root, env: { ...process.env, TS_NODE_BASEURL: jsDir } },
  );
  let stdout = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  await waitForLine(child, 'ready', 60000);
  const g = idle
    ? await new Promise<{ sent: number; pps: number }>((r) =>
        setTimeout(() => r({ sent: 0, pps: 0 }), seconds * 1000),
      )
    : await generate(net, rate);
  await new Promise((r) => setTimeout(r, 300));
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGINT');
  await exited;
  const line = stdout.trim().split('\n').pop() ?? '{}';
  const r = JSON.parse(line) as {
    delivered: number;
    dropped: number;
    batches: number;
    reads: number;
    cpuUs: number;
    maxLoopDelayMs: number | null;
  };
  return {
    tool: run.tool,
    rate,
    sentPps: g.pps,
    sent: g.sent,
    captured: r.delivered,
    dropped: r.dropped,
    cpuUsPerPacket: idle ? r.cpuUs / seconds / 1000 : r.cpuUs / Math.max(r.delivered, 1),
    maxLoopDelayMs: r.maxLoopDelayMs ?? undefined,
    packetsPerBatch: r.delivered / Math.max(r.batches, 1),
    reads: r.reads,
  };
}

/** CPU from a run without the loop-delay instrument, the delay from a second run of the same load. */
async function runEngine(net: TestNetwork, rate: number, run: EngineRun): Promise<RunResult> {
  const cpuRun = await runEngineOnce(net, rate, run, false);
  if (run.idle) return cpuRun;
  const delayRun = await runEngineOnce(net, rate, run, true);
  return {
    ...cpuRun,
    maxLoopDelayMs: delayRun.maxLoopDelayMs,
    delayRunLost: delayRun.sent - delayRun.captured,
  };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

/** One result per tool and rate: the median CPU and rate of its runs, and the worst of their losses and delays. */
function aggregate(runs: readonly RunResult[]): RunResult[] {
  const groups = new Map<string, RunResult[]>();
  for (const r of runs) {
    const key = `${r.tool}@${r.rate}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((group) => {
    const worst = group.reduce((a, b) => (b.sent - b.captured > a.sent - a.captured ? b : a));
    const delays = group.flatMap((r) => (r.maxLoopDelayMs === undefined ? [] : [r.maxLoopDelayMs]));
    const batches = group.flatMap((r) => (r.packetsPerBatch === undefined ? [] : [r.packetsPerBatch]));
    return {
      ...worst,
      sentPps: median(group.map((r) => r.sentPps)),
      dropped: Math.max(...group.map((r) => r.dropped)),
      cpuUsPerPacket: median(group.map((r) => r.cpuUsPerPacket)),
      maxLoopDelayMs: delays.length > 0 ? Math.max(...delays) : undefined,
      delayRunLost: Math.max(...group.map((r) => r.delayRunLost ?? 0)),
      packetsPerBatch: batches.length > 0 ? median(batches) : undefined,
      reads: group.every((r) => r.reads !== undefined) ? median(group.map((r) => r.reads ?? 0)) : undefined,
    };
  });
}

const TOOL_WIDTH = 'engine (isolated, no pool)'.length;
const zeroDrop = (r: RunResult): boolean => r.dropped === 0 && r.captured === r.sent && !r.delayRunLost;

async function main(): Promise<void> {
  const net = TestNetwork.create();
  const cleanup = (): void => net.destroy();
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  const results: RunResult[] = [];
  try {
    console.log(
      `bench/capture: ${PAYLOAD + 42}-byte frames (${generator} generator), ${seconds} s per run, kernel buffer ${bufferBytes / 1024} KiB each`,
    );
    console.log(
      `${'tool'.padEnd(TOOL_WIDTH)}  target/s   sent/s   captured    dropped  zero-drop  cpu µs/pkt  max loop delay  pkts/batch   reads`,
    );
    const idle = await runEngine(net, 0, { tool: 'engine (idle)', idle: true });
    console.log(
      `engine idle baseline: ${idle.cpuUsPerPacket.toFixed(1)} ms CPU per second with no traffic (included below)`,
    );
    for (const rate of rates) {
      for (let round = 0; round < repeat; round++) {
        const rows: [string, () => Promise<RunResult>][] = [
          ['tcpdump -w', () => runTcpdump(net, rate)],
          ['native reader (C)', () => runNativeReader(net, rate)],
          ...(skipImmediate
            ? []
            : [
                [
                  'engine (immediate)',
                  () => runEngine(net, rate, { tool: 'engine (immediate)', immediate: true }),
                ] as [string, () => Promise<RunResult>],
              ]),
          ['engine (buffered)', () => runEngine(net, rate, { tool: 'engine (buffered)' })],
          // the same engine read through its stream's 'data' events
          ['engine (stream)', () => runEngine(net, rate, { tool: 'engine (stream)', consumer: 'stream' })],
          // ... with a fresh buffer per batch, as for a consumer that keeps its batches
          [
            'engine (no pool)',
            () => runEngine(net, rate, { tool: 'engine (no pool)', pool: '0', consumer: 'stream' }),
          ],
          ['engine (isolated)', () => runEngine(net, rate, { tool: 'engine (isolated)', isolated: true })],
          // the agent's way: a worker process, 'data' events, batches kept (they travel on)
          [
            'engine (isolated, no pool)',
            () =>
              runEngine(net, rate, {
                tool: 'engine (isolated, no pool)',
                isolated: true,
                pool: '0',
                consumer: 'stream',
              }),
          ],
        ];
        for (const [, run] of rows.filter(([tool]) => only === undefined || only.includes(tool))) {
          const r = await run();
          results.push(r);
          console.log(
            `${r.tool.padEnd(TOOL_WIDTH)} ${(r.rate === 0 ? 'unpaced' : String(r.rate)).padStart(9)} ${r.sentPps.toFixed(0).padStart(8)} ${String(r.captured).padStart(10)} ${String(r.dropped).padStart(10)}  ${(zeroDrop(r) ? 'yes' : 'no').padStart(9)}  ${r.cpuUsPerPacket.toFixed(3).padStart(10)}  ${r.maxLoopDelayMs === undefined ? '' : (r.maxLoopDelayMs.toFixed(1) + ' ms').padStart(14)}${r.packetsPerBatch === undefined ? '' : r.packetsPerBatch.toFixed(0).padStart(12)}${r.reads === undefined ? '' : String(r.reads).padStart(8)}${r.delayRunLost ? `  (loop-delay run: ${r.delayRunLost} lost)` : ''}`,
          );
        }
      }
    }
  } finally {
    cleanup();
  }
  const summary = aggregate(results);
  const best = (tool: string): RunResult | undefined =>
    summary.filter((r) => r.tool === tool && zeroDrop(r)).sort((a, b) => b.sentPps - a.sentPps)[0];
  const ref = best('tcpdump -w');
  console.log(
    `\nsummary (highest rate with zero drops; CPU per packet at that rate${repeat > 1 ? `, the median of ${repeat} runs` : ''})`,
  );
  for (const tool of [
    'tcpdump -w',
    'native reader (C)',
    'engine (immediate)',
    'engine (buffered)',
    'engine (stream)',
    'engine (no pool)',
    'engine (isolated)',
    'engine (isolated, no pool)',
  ]) {
    const b = best(tool);
    if (!b) {
      console.log(`${tool.padEnd(TOOL_WIDTH)} no zero-drop run`);
      continue;
    }
    const sameRateRef = summary.find((r) => r.tool === 'tcpdump -w' && r.rate === b.rate);
    console.log(
      `${tool.padEnd(TOOL_WIDTH)} ${b.sentPps.toFixed(0).padStart(8)} pkt/s` +
        (ref ? `  ratio ${(b.sentPps / ref.sentPps).toFixed(2)}× tcpdump` : '') +
        `  cpu ${b.cpuUsPerPacket.toFixed(3)} µs/pkt` +
        (sameRateRef
          ? ` (${(b.cpuUsPerPacket / sameRateRef.cpuUsPerPacket).toFixed(2)}× tcpdump's at ${b.rate === 0 ? 'the unpaced rate' : `${b.rate}/s`})`
          : '') +
        (b.maxLoopDelayMs === undefined ? '' : `  worst loop delay ${b.maxLoopDelayMs.toFixed(1)} ms`),
    );
  }
  const asRun = (r: RunResult): ZeroDropRun => ({ ...r, received: r.captured, zeroDrop: zeroDrop(r) });
  const of = (tool: string): ZeroDropRun[] => summary.filter((r) => r.tool === tool).map(asRun);
  for (const tool of ['engine (buffered)', 'engine (isolated)']) {
    if (of(tool).length > 0) console.log(zeroDropVerdict(tool, 1.5, of(tool), of('tcpdump -w')));
  }
  // CPU per packet at the same offered rate: the highest paced rate tcpdump kept up with (unpaced rates differ).
  const tcpdumpOk = summary.filter((r) => r.tool === 'tcpdump -w' && zeroDrop(r));
  const top = tcpdumpOk.filter((r) => r.rate > 0).sort((a, b) => b.rate - a.rate)[0] ?? tcpdumpOk.at(-1);
  if (top) {
    const at = top.rate === 0 ? 'the unpaced rate' : `${top.rate}/s`;
    const mine = summary.find((r) => r.tool === 'engine (buffered)' && r.rate === top.rate);
    if (mine) {
      console.log(
        `target engine CPU per packet ≤ 0.67× tcpdump's: ${mine.cpuUsPerPacket <= 0.67 * top.cpuUsPerPacket ? 'met' : 'NOT met'} (${(mine.cpuUsPerPacket / top.cpuUsPerPacket).toFixed(2)}× at ${at})`,
      );
    }
    const floor = summary.find((r) => r.tool === 'native reader (C)' && r.rate === top.rate);
    if (floor) {
      console.log(
        `the engine's read path without Node (native reader): ${(floor.cpuUsPerPacket / top.cpuUsPerPacket).toFixed(2)}× tcpdump's CPU at ${at}` +
          (mine ? `; Node adds ${(mine.cpuUsPerPacket - floor.cpuUsPerPacket).toFixed(3)} µs/pkt` : ''),
      );
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
