/** Runs the real tcpdump beside our engine, as the reference it is compared with. */
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';

import { type Host, type TestNetwork, waitForLine } from './test-network';

export class TcpdumpRun {
  private constructor(
    private readonly child: ChildProcess,
    readonly file: string,
  ) {}

  /** Starts `tcpdump -i <device> -w <file>` with ns timestamps inside the host's namespace; resolves once listening. */
  static async start(
    net: TestNetwork,
    host: Host,
    file: string,
    filter: string,
    extra: string[] = [],
  ): Promise<TcpdumpRun> {
    const child = net.spawn(host, 'tcpdump', [
      '-i',
      host.device,
      '-n',
      '-U',
      // Debian's tcpdump drops to user tcpdump, which cannot write into a root-only temp dir
      '-Z',
      'root',
      // without it, packets in a not-yet-retired TPACKET_V3 block are lost when it is stopped
      '--immediate-mode',
      '--time-stamp-precision=nano',
      '-w',
      file,
      ...extra,
      ...(filter ? [filter] : []),
    ]);
    await waitForLine(child, 'listening on');
    return new TcpdumpRun(child, file);
  }

  /** Stops it with SIGINT (by PID) and waits for it to flush and exit. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGINT');
    await exited;
  }
}

/** `tshark -r file -T fields -e ...`, one array of fields per packet. */
export function tsharkFields(file: string, fields: string[], displayFilter?: string): string[][] {
  const args = ['-r', file, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])];
  if (displayFilter) args.push('-Y', displayFilter);
  const out = execFileSync('tshark', args, {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
}

/** Converts tshark's `frame.time_epoch` text ("1700000000.123456789") to ns. */
export function epochTextToNs(text: string): bigint {
  const [sec, frac = ''] = text.split('.');
  return BigInt(sec ?? '0') * 1_000_000_000n + BigInt((frac + '000000000').slice(0, 9));
}
