/**
 * What bench/agent and bench/api share: their command line, the processes they start (tracked so that cleanup
 * ends them by PID, also on failure and on SIGINT), the build of the traffic generator and of the compiled
 * JavaScript they run, paced traffic into a simulated cell's container, and /proc readings.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

import type { CellContainer, DiegoCell } from '../../test/support/diego-cell';
import { waitForLine } from '../../test/support/test-network';

export const ROOT = join(__dirname, '..', '..');
export const PAYLOAD = 64; // 14 Ethernet + 20 IPv4 + 8 UDP + 64 = 106-byte frames
export const PORT = 9123;
export const FILTER = `udp dst port ${PORT}`;
/** libpcap's default ring, which the agent's buffered mode uses (buffer_size 0): tcpdump gets the same. */
export const TCPDUMP_BUFFER_KIB = 2048;
export const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/**
 * How the generator (bench/capture/traffic-gen.c) sends the same 106-byte UDP frames: `raw` from a packet
 * socket's TX ring on the sending veth, addressed to a MAC no host owns, so the receiver drops each frame right
 * after the capture taps (~1.9 M packets/s on this kind of machine with nothing capturing); `udp` through a UDP
 * socket, which the receiver runs through IP and UDP and answers with an ICMP attempt (~0.9 M packets/s).
 */
export type GeneratorKind = 'raw' | 'udp';
/** Packets a second an unpaced run is planned for (its packet count), by generator. */
const UNPACED_PPS: Record<GeneratorKind, number> = { raw: 1_500_000, udp: 400_000 };

/** The bench's command line: `--name value` options. */
export class BenchArgs {
  constructor(private readonly argv: readonly string[] = process.argv.slice(2)) {}

  has(name: string): boolean {
    return this.argv.includes(name);
  }

  text(name: string, fallback: string): string {
    const i = this.argv.indexOf(name);
    const value = i >= 0 ? this.argv[i + 1] : undefined;
    return value ?? fallback;
  }

  number(name: string, fallback: number): number {
    return Number(this.text(name, String(fallback)));
  }

  /** A comma-separated list of numbers; '' = none. */
  numbers(name: string, fallback: string): number[] {
    const text = this.text(name, fallback);
    return text.trim() === '' ? [] : text.split(',').map(Number);
  }

  /** `--generator raw|udp` (default raw). */
  generator(): GeneratorKind {
    const kind = this.text('--generator', 'raw');
    if (kind !== 'raw' && kind !== 'udp') throw new Error(`--generator is raw or udp, not ${kind}`);
    return kind;
  }

  /** `--pin on|off` (default on): see `pinGenerator`. */
  pin(): boolean {
    const pin = this.text('--pin', 'on');
    if (pin !== 'on' && pin !== 'off') throw new Error(`--pin is on or off, not ${pin}`);
    return pin === 'on';
  }

  /** A space-separated list of words (e.g. node flags); '' = none. */
  words(name: string, fallback: string): string[] {
    return this.text(name, fallback)
      .split(' ')
      .filter((a) => a !== '');
  }
}

/**
 * Keeps the generator and what it measures on different CPUs: the bench's own process (all its threads, and so
 * everything it starts from now on: tools, services, readers) is confined to every CPU but the last, and
 * `generatorPrefix` runs a generator on the last. Without it, the scheduler often wakes the capturing process on
 * the CPU of the generator that just handed it packets, where the busy generator (niced -10, spinning between
 * bursts) leaves it a fraction of the time: seen here, tcpdump sat on the generator's CPU in a third of the samples
 * of a 1.2 M packets/s run and dropped in some runs, with nothing wrong in tcpdump. Returns the generator's CPU, or
 * undefined when not pinned (`enabled` false, or a single CPU).
 */
export function pinGenerator(enabled: boolean): number | undefined {
  const count = cpus().length;
  if (!enabled || count < 2) return undefined;
  execFileSync('taskset', ['--all-tasks', '--pid', '--cpu-list', `0-${count - 2}`, String(process.pid)], {
    stdio: 'ignore',
  });
  return count - 1;
}

/** The command words that run a generator on `cpu` (none when undefined); taskset execs in place, keeping the PID. */
export const generatorPrefix = (cpu: number | undefined): string[] =>
  cpu === undefined ? [] : ['taskset', '--cpu-list', String(cpu)];

/**
 * The processes a bench started. `cleanup` SIGKILLs those still running (by PID), then runs `release` (cells,
 * servers, temp dirs), once; SIGINT/SIGTERM run it too and exit 130.
 */
export class BenchProcesses {
  private readonly children = new Set<ChildProcess>();
  private cleaned: Promise<void> | undefined;

  constructor(
    private readonly release: () => Promise<void>,
    /** How `generate` sends. */
    readonly generator: GeneratorKind = 'raw',
    /** The CPU `generate` runs generators on (`pinGenerator`); undefined = anywhere. */
    private readonly generatorCpu?: number,
  ) {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        console.error(`\n${signal}: cleaning up`);
        void this.cleanup().finally(() => process.exit(130));
      });
    }
  }

  track(child: ChildProcess): ChildProcess {
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  cleanup(): Promise<void> {
    this.cleaned ??= (async () => {
      for (const child of this.children) {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
          try {
            process.kill(child.pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
      await this.release();
    })();
    return this.cleaned;
  }

  /**
   * Paced UDP load from the generator in the cell's namespace to a container (`generator`), on `generatorCpu`,
   * at niceness `nice` (19 when several run at once on few cores; negative to give it the CPU before the
   * processes under test; 0 = as started).
   * Resolves with what it sent and the rate it reached.
   */
  async generate(
    gen: string,
    cell: DiegoCell,
    c: CellContainer,
    rate: number,
    count: number,
    nice = 0,
  ): Promise<{ sent: number; pps: number }> {
    const cmd = [gen, c.ip, String(PORT), String(rate), String(count), String(PAYLOAD)];
    if (this.generator === 'raw') cmd.push(c.cellDevice);
    // `ip netns exec` (and taskset, nice) exec in place: the child's PID is the generator's.
    const child = this.track(
      spawn(
        'ip',
        [
          'netns',
          'exec',
          cell.cellNs,
          ...generatorPrefix(this.generatorCpu),
          ...(nice !== 0 ? ['nice', '-n', String(nice)] : []),
          ...cmd,
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ),
    );
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    // 'exit' can come before the last of stdout has been read; 'close' comes after both.
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    // Killed if it runs for twice its planned time (at least a minute): long paced runs are not cut short.
    const code = await exited(child, Math.max(60_000, rate > 0 ? (count / rate) * 2000 + 10_000 : 0));
    await closed;
    if (code !== 0) throw new Error(`traffic-gen exited ${code}: ${err}`);
    const r = JSON.parse(out) as { sent: number; pps: number };
    return { sent: r.sent, pps: r.pps };
  }

  /**
   * The baseline: `tcpdump -w /dev/null` (the agent's ring size) in the container's namespace while `count`
   * packets arrive at `rate`; its CPU per packet and what it captured and dropped, from its own summary.
   */
  async tcpdump(
    gen: string,
    cell: DiegoCell,
    c: CellContainer,
    rate: number,
    count: number,
    generatorNice = 0,
  ): Promise<TcpdumpRun> {
    const args = [
      '-i',
      'eth0',
      '-n',
      '-Z',
      'root',
      '-B',
      String(TCPDUMP_BUFFER_KIB),
      '-w',
      '/dev/null',
      FILTER,
    ];
    const child = this.track(
      spawn('ip', ['netns', 'exec', c.ns, 'tcpdump', ...args], { stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitForLine(child, 'listening on');
    const pid = child.pid as number; // `ip netns exec` execs tcpdump in place
    const before = cpuTicksOf(pid);
    const g = await this.generate(gen, cell, c, rate, count, generatorNice);
    await sleep(1200); // tcpdump's 1 s block timeout hands over the tail
    const cpuUs = ((cpuTicksOf(pid) - before) / TICKS_PER_SECOND) * 1e6;
    child.kill('SIGINT');
    await exited(child, 10000);
    const received = Number(/(\d+) packets captured/.exec(stderr)?.[1] ?? NaN);
    return {
      tool: 'tcpdump -w',
      rate,
      sentPps: g.pps,
      sent: g.sent,
      received,
      kernelDrops: Number(/(\d+) packets dropped by kernel/.exec(stderr)?.[1] ?? NaN),
      discards: 0,
      cpuUsPerPacket: cpuUs / Math.max(received, 1),
    };
  }
}

export interface TcpdumpRun {
  readonly tool: 'tcpdump -w';
  readonly rate: number;
  readonly sentPps: number;
  readonly sent: number;
  readonly received: number;
  readonly kernelDrops: number;
  readonly discards: number;
  readonly cpuUsPerPacket: number;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves with the exit code; SIGKILLs the child (by PID) after `timeoutMs`. */
export function exited(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/**
 * Packets for a run of `secs` at `rate` (0 = unpaced: as many as the generator's usual top rate would send), at
 * most 10 million.
 */
export const countFor = (rate: number, secs: number, generator: GeneratorKind = 'raw'): number =>
  Math.min(Math.round((rate > 0 ? rate : UNPACED_PPS[generator]) * secs), 10_000_000);

/**
 * Builds the generator (`binDir/traffic-gen`, from bench/capture) and compiles `files` (paths from the repo root)
 * with what they import to `binDir/js`. Services run from compiled JavaScript, as in production: under ts-node
 * the TypeScript compiler's heap would be measured as their CPU and RSS. Returns the generator's path.
 */
export function buildBench(binDir: string, files: readonly string[]): string {
  mkdirSync(binDir, { recursive: true });
  const gen = join(binDir, 'traffic-gen');
  execFileSync('gcc', ['-O2', '-o', gen, join(ROOT, 'bench', 'capture', 'traffic-gen.c')]);
  const project = join(binDir, 'tsconfig.bench.json');
  writeFileSync(
    project,
    JSON.stringify({
      extends: join(ROOT, 'tsconfig.json'),
      compilerOptions: { outDir: './js', rootDir: ROOT, sourceMap: false, types: ['node'] },
      include: [],
      files: files.map((f) => join(ROOT, f)),
    }),
  );
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', project], {
    stdio: 'inherit',
  });
  return gen;
}

/** utime + stime of `pid` in clock ticks; with `reaped`, also those of its exited and reaped children. */
export function cpuTicksOf(pid: number, reaped = false): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const own = Number(fields[11]) + Number(fields[12]);
  return reaped ? own + Number(fields[13]) + Number(fields[14]) : own;
}

export interface Memory {
  rssMb: number;
  anonMb: number;
  fileMb: number;
  hwmMb: number;
}

/** VmRSS (anonymous, file and shared memory parts) and VmHWM of `pid`, in MB. */
export function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return {
    rssMb: kb('VmRSS') / 1024,
    anonMb: kb('RssAnon') / 1024,
    fileMb: (kb('RssFile') + kb('RssShmem')) / 1024,
    hwmMb: kb('VmHWM') / 1024,
  };
}

/** One rate run as the zero-drop verdict needs it. */
export interface ZeroDropRun {
  readonly sentPps: number;
  readonly sent: number;
  readonly received: number;
  /** Every packet sent was captured, nothing dropped or discarded anywhere. */
  readonly zeroDrop: boolean;
}

/**
 * The verdict line for "`who` ≥ `factor`× tcpdump's zero-drop rate" from runs of both on the same offered loads.
 * Each side's zero-drop rate is its highest rate without a drop. It is a measured limit only if that side also
 * dropped at a higher rate; otherwise it kept up with everything it was offered and its limit is at least that (the
 * generator's). A drop below a side's highest zero-drop rate is a hiccup of that run and does not count.
 */
export function zeroDropVerdict(
  who: string,
  factor: number,
  ours: readonly ZeroDropRun[],
  tcpdump: readonly ZeroDropRun[],
): string {
  const target = `target ${who} ≥ ${factor.toFixed(1)}× tcpdump's zero-drop rate`;
  const side = (runs: readonly ZeroDropRun[]): { best: number; droppedAbove: ZeroDropRun[] } => {
    const best = Math.max(0, ...runs.filter((r) => r.zeroDrop).map((r) => r.sentPps));
    return { best, droppedAbove: runs.filter((r) => !r.zeroDrop && r.sentPps > best) };
  };
  const o = side(ours);
  const t = side(tcpdump);
  const ratio = t.best > 0 ? o.best / t.best : 0;
  const lost = (runs: ZeroDropRun[]): string =>
    runs.map((r) => `${r.sentPps.toFixed(0)} pkt/s (${r.sent - r.received} lost)`).join(', ');
  const oursText =
    o.droppedAbove.length > 0
      ? `${who} kept up to ${o.best.toFixed(0)} pkt/s and dropped at ${lost(o.droppedAbove)}`
      : `${who} kept up with everything offered, up to ${o.best.toFixed(0)} pkt/s`;
  const tcpdumpText =
    t.droppedAbove.length > 0
      ? `tcpdump kept up to ${t.best.toFixed(0)} pkt/s and dropped at ${lost(t.droppedAbove)}`
      : `tcpdump kept up with everything offered, up to ${t.best.toFixed(0)} pkt/s`;
  const facts = `${oursText}; ${tcpdumpText}`;
  const oursKnown = o.droppedAbove.length > 0;
  const tcpdumpKnown = t.droppedAbove.length > 0;
  if (ratio >= factor) {
    // Ours is at least o.best. tcpdump's is t.best only if it dropped above it; otherwise it is at least t.best and
    // may be far higher (the generator, not tcpdump, was the limit), so nothing is shown.
    return tcpdumpKnown
      ? `${target}: met (${ratio.toFixed(2)}×): ${facts}`
      : `${target}: not shown (${ratio.toFixed(2)}× tcpdump's highest offered rate, but tcpdump's own limit was not reached): ${facts}`;
  }
  const firstDrop = Math.min(...o.droppedAbove.map((r) => r.sentPps));
  if (oursKnown && firstDrop <= factor * t.best) {
    // Ours is below a rate that is at most factor × tcpdump's (which is at least t.best).
    return `${target}: NOT met (${ratio.toFixed(2)}×): ${facts}`;
  }
  return `${target}: not shown (${ratio.toFixed(2)}× is the most this run shows): ${facts}`;
}
