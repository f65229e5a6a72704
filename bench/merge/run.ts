/**
 * bench/merge: the API's time-ordered merge of instance streams (`@pcap/capture`'s PcapngMerge) against Wireshark's
 * `mergecap` on the same files, side by side.
 *
 * `--inputs` pcapng files (one per instance, Ethernet, 106-byte UDP frames, nanosecond timestamps) are written to a
 * temp dir. Their timestamps interleave: input j holds packets j, k + j, 2k + j, ... of one time line (in runs of
 * `--burst` consecutive packets per input), so a merge switches input every `--burst` packets; `--burst 1` is the
 * worst case and what a capture of many app instances with steady traffic looks like. Each round merges them:
 *  - ours: the files read as streams (256 KiB chunks, as the API coalesces what agents send), merged, written to a
 *    file through a 1 MiB write buffer; CPU = this process's user + system time over the merge (process.cpuUsage,
 *    all threads), so it includes reading and writing the files and garbage collection. (With fs.WriteStream's
 *    default 16 KiB buffer the merge stops and restarts around every write of the thread pool, which measured
 *    0.96–1.0 instead of 0.59–0.64 µs/pkt for 10 × 50k packets: that is Node's file writing, not the merge.)
 *  - mergecap: `mergecap -F pcapng -w out in...`; CPU = its user + system time (reaped child, /proc/self/stat).
 * Both outputs are checked: `capinfos` packet count = all packets, our merge counts no late packet, and the first
 * packets of both outputs have the same timestamps. Prints CPU µs per packet per round and the ratio of the medians
 * (ours / mergecap; < 1 = ours needs less CPU).
 *
 * Usage: node -r ts-node/register/transpile-only -r tsconfig-paths/register bench/merge/run.ts
 *   [--inputs 10] [--packets 100000 (per input)] [--burst 1] [--repeat 3]
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  createReadStream,
  createWriteStream,
  mkdtempSync,
  openSync,
  closeSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

import {
  encodeEnhancedPacket,
  encodeInterfaceDescription,
  encodeSectionHeader,
  LINKTYPE_ETHERNET,
  PcapngMerge,
} from '@pcap/capture';
import { udpFrame } from '../../test/support/synthetic-pcapng';
import { BenchArgs, cpuTicksOf, PAYLOAD, TICKS_PER_SECOND } from '../support/bench-kit';

const args = new BenchArgs();
const inputs = args.number('--inputs', 10);
const perInput = args.number('--packets', 100000);
const burst = args.number('--burst', 1);
const repeat = args.number('--repeat', 3);
const total = inputs * perInput;
/** Payload after the frame's 4-byte sequence number: 106-byte frames, as the other benches send. */
const SEQ_PAYLOAD = PAYLOAD - 4;
const START_NS = 1_700_000_000_000_000_000n;
const SPACING_NS = 1000n;

const dir = mkdtempSync(join(tmpdir(), 'bench-merge-'));
process.once('SIGINT', () => {
  rmSync(dir, { recursive: true, force: true });
  process.exit(130);
});

/** Writes input `j`: its packets' places on the common time line are j·burst + i·k·burst (+ 0..burst-1). */
function writeInput(j: number): string {
  const file = join(dir, `in-${j}.pcapng`);
  const fd = openSync(file, 'w');
  writeSync(fd, encodeSectionHeader({ userAppl: 'bench/merge' }));
  writeSync(fd, encodeInterfaceDescription({ linkType: LINKTYPE_ETHERNET, snaplen: 65535, name: 'eth0' }));
  let batch: Buffer[] = [];
  for (let i = 0; i < perInput; i++) {
    const place = BigInt(Math.floor(i / burst) * inputs * burst + j * burst + (i % burst));
    const frame = udpFrame(i, SEQ_PAYLOAD);
    batch.push(
      encodeEnhancedPacket(0, {
        timestampNs: START_NS + place * SPACING_NS,
        originalLength: frame.length,
        data: frame,
      }),
    );
    if (batch.length === 4096) {
      writeSync(fd, Buffer.concat(batch));
      batch = [];
    }
  }
  if (batch.length > 0) writeSync(fd, Buffer.concat(batch));
  closeSync(fd);
  return file;
}

async function ours(files: readonly string[], out: string): Promise<{ us: number; late: number }> {
  const before = process.cpuUsage();
  const merge = new PcapngMerge(
    files.map((f, i) => ({
      source: createReadStream(f, { highWaterMark: 256 * 1024 }),
      label: `instance ${i}`,
    })),
  );
  await pipeline(merge, createWriteStream(out, { highWaterMark: 1 << 20 }));
  const used = process.cpuUsage(before);
  return { us: used.user + used.system, late: merge.stats.latePackets };
}

async function mergecap(files: readonly string[], out: string): Promise<number> {
  const before = cpuTicksOf(process.pid, true);
  const child = spawn('mergecap', ['-F', 'pcapng', '-w', out, ...files], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`mergecap exited ${code}`);
  return ((cpuTicksOf(process.pid, true) - before) / TICKS_PER_SECOND) * 1e6;
}

function packetsIn(file: string): number {
  const out = execFileSync('capinfos', ['-c', '-M', file], { encoding: 'utf8' });
  return Number(/Number of packets:\s+(\d+)/.exec(out)?.[1] ?? NaN);
}

function firstTimes(file: string): string {
  return execFileSync('tshark', ['-r', file, '-c', '50', '-T', 'fields', '-e', 'frame.time_epoch'], {
    encoding: 'utf8',
  });
}

function mergecapVersion(): string {
  const line = execFileSync('mergecap', ['-v'], { encoding: 'utf8' }).split('\n')[0] ?? '';
  return /\d+\.\d+\.\d+/.exec(line)?.[0] ?? line;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

async function main(): Promise<void> {
  console.log(
    `bench/merge: ${inputs} inputs × ${perInput} packets (106-byte frames), interleaved in runs of ${burst}; ` +
      `ours (PcapngMerge, files in and out) vs mergecap ${mergecapVersion()}`,
  );
  const files = Array.from({ length: inputs }, (_, j) => writeInput(j));
  const oursOut = join(dir, 'ours.pcapng');
  const capOut = join(dir, 'mergecap.pcapng');
  const oursUs: number[] = [];
  const capUs: number[] = [];
  for (let r = 1; r <= repeat; r++) {
    const a = await ours(files, oursOut);
    const b = await mergecap(files, capOut);
    const oursCount = packetsIn(oursOut);
    const capCount = packetsIn(capOut);
    if (oursCount !== total || capCount !== total) {
      throw new Error(`packet counts: ours ${oursCount}, mergecap ${capCount}, expected ${total}`);
    }
    if (a.late !== 0) throw new Error(`our merge wrote ${a.late} packets out of time order`);
    if (firstTimes(oursOut) !== firstTimes(capOut))
      throw new Error('the outputs start with different packets');
    oursUs.push(a.us / total);
    capUs.push(b / total);
    console.log(
      `round ${r}: ours ${(a.us / total).toFixed(3)} µs/pkt, mergecap ${(b / total).toFixed(3)} µs/pkt (${total} packets each, same order)`,
    );
  }
  const ratio = median(oursUs) / median(capUs);
  console.log(
    `median CPU per packet: ours ${median(oursUs).toFixed(3)} µs, mergecap ${median(capUs).toFixed(3)} µs: ` +
      `ours/mergecap ${ratio.toFixed(2)}×`,
  );
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => rmSync(dir, { recursive: true, force: true }));
