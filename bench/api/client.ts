/**
 * The client of bench/api/run.ts, in its own process (compiled JavaScript) so that neither its CPU nor its memory
 * is counted as the API's. It POSTs /captures to the API over plain HTTP/1.1 (as behind gorouter) with a UAA double
 * token, prints `ready` once the stream has begun (or `failed <status or exit code> <text>` and exits 1), writes
 * the streamed pcapng to a file, and, when the capture ends (its `duration_seconds`), prints one JSON line: EPBs and
 * bytes received, the last Interface Statistics Block of each interface and the control messages.
 *
 * `client: 'cli'` (default): the capture is run by the CLI's own code, `runCapture` of cli/src/core (what `cf pcap
 * APP -o FILE` and the standalone `pcap` run once they have a token and the request body: whole blocks, the tally
 * of packets and messages, the file output); `ready` comes once the file has its first bytes. The file is read back
 * with `@pcap/capture`'s readPcapng after the CPU time is taken. A `stop` line on stdin acts as two Ctrl-C (stop
 * now). `client: 'http'`: a plain Node HTTP request piped into the file while a block counter counts EPBs; `ready`
 * once the answer's headers are in; `stop` hangs up.
 *
 * Usage: PCAP_BENCH_TOKEN=<token> client.js '<json {url, body, out, client?}>' (the token not in argv, where any
 * user of the host could read it)
 */
import { EventEmitter } from 'node:events';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { request } from 'node:http';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import { readPcapng } from '@pcap/capture';

import { runCapture } from '../../cli/src/core/capture-run';
import { PcapngBlockCounter } from '../agent/block-counter';

interface ClientArgs {
  readonly url: string;
  readonly body: Record<string, unknown>;
  readonly out: string;
  readonly client?: 'cli' | 'http';
}

export interface Isb {
  readonly interfaceId: number;
  readonly ifRecv?: number;
  readonly ifDrop?: number;
  readonly osDrop?: number;
}

export interface ClientResult {
  readonly status: number;
  readonly epbs: number;
  readonly bytes: number;
  readonly interfaces: number;
  /** The last ISB of each interface that had one. */
  readonly isbs: readonly Isb[];
  readonly messages: readonly string[];
  readonly error?: string;
  /** The client's own CPU time (user + system), for information. */
  readonly clientCpuUs: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as ClientArgs;
const token = process.env['PCAP_BENCH_TOKEN'] ?? '';
delete process.env['PCAP_BENCH_TOKEN'];

interface ReadBack {
  epbs: number;
  interfaces: number;
  isbs: Isb[];
  messages: string[];
  error?: string;
}

/** What a capture holds, read back with `@pcap/capture`'s readPcapng (EPBs counted only where `countPackets`). */
async function readBack(
  source: AsyncIterable<Buffer> | Iterable<Buffer>,
  countPackets: boolean,
): Promise<ReadBack> {
  let epbs = 0;
  let interfaces = 0;
  const isbs = new Map<number, Isb>();
  const messages: string[] = [];
  const n = (v: bigint | undefined): number | undefined => (v === undefined ? undefined : Number(v));
  try {
    for await (const event of readPcapng(source)) {
      if (event.type === 'packets') epbs += countPackets ? event.count : 0;
      else if (event.type === 'packet') epbs += countPackets ? 1 : 0;
      else if (event.type === 'interface') interfaces++;
      else if (event.type === 'message') messages.push(`${event.message.type}: ${event.message.message}`);
      else if (event.type === 'statistics') {
        isbs.set(event.interfaceId, {
          interfaceId: event.interfaceId,
          ifRecv: n(event.ifRecv),
          ifDrop: n(event.ifDrop),
          osDrop: n(event.osDrop),
        });
      }
    }
  } catch (err) {
    return { epbs, interfaces, isbs: [...isbs.values()], messages, error: (err as Error).message };
  }
  return { epbs, interfaces, isbs: [...isbs.values()], messages };
}

/** Prints the one JSON line of the result (EPBs and bytes as counted by the caller) and ends the process. */
function report(
  status: number,
  epbs: number,
  bytes: number,
  read: ReadBack,
  error: string | undefined,
  cpu: NodeJS.CpuUsage,
): never {
  const out: ClientResult = {
    status,
    epbs,
    bytes,
    interfaces: read.interfaces,
    isbs: read.isbs,
    messages: read.messages,
    ...(error !== undefined ? { error } : {}),
    clientCpuUs: cpu.user + cpu.system,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
}

async function viaHttp(): Promise<void> {
  const cpuStart = process.cpuUsage();
  const counter = new PcapngBlockCounter();
  const file = createWriteStream(args.out);
  let error: string | undefined;
  const payload = JSON.stringify(args.body);
  const req = request(`${args.url}/captures`, {
    method: 'POST',
    headers: {
      authorization: `bearer ${token}`,
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(payload)),
      'x-vcap-request-id': `bench-api-${process.pid}`,
    },
  });
  const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
    req.end(payload);
  });
  const status = res.statusCode ?? 0;
  if (status !== 200) {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    process.stdout.write(`failed ${status} ${Buffer.concat(chunks).toString('utf8')}\n`);
    process.exit(1);
  }
  process.stdout.write('ready\n');
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (l) => {
    if (l.trim() === 'stop') {
      error ??= 'stopped by the bench';
      res.destroy();
    }
  });
  res.on('data', (chunk: Buffer) => counter.push(chunk));
  res.pipe(file);
  await new Promise<void>((resolve) => {
    res.once('end', resolve);
    res.once('close', resolve);
    res.once('error', (err: Error) => {
      error ??= err.message;
      resolve();
    });
  });
  await new Promise<void>((resolve) => file.end(resolve));
  lines.close();
  const kept = await readBack(counter.kept, false);
  if (kept.error !== undefined) error ??= `unreadable stream: ${kept.error}`;
  report(status, counter.epbs, counter.bytes, kept, error, process.cpuUsage(cpuStart));
}

/** The capture through the CLI's runCapture; the file is read back afterwards (not counted as its CPU). */
async function viaCli(): Promise<void> {
  const cpuStart = process.cpuUsage();
  const signals = new EventEmitter();
  // The CLI's stderr (progress, messages, summary): not shown; the messages are read back from the file.
  const stderr = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  const duration = args.body['duration_seconds'];
  const running: Promise<{ exit: number } | { failure: Error }> = runCapture(
    {
      apiUrl: args.url,
      path: '/captures',
      authorization: `bearer ${token}`,
      insecure: false,
      body: args.body,
    },
    {
      output: args.out,
      instances: 'all',
      processType: undefined,
      device: undefined,
      filter: undefined,
      snaplen: undefined,
      durationSeconds: typeof duration === 'number' ? duration : undefined,
      maxBytes: undefined,
      maxPackets: undefined,
      format: 'pcapng',
      sink: undefined,
      force: true,
      api: undefined,
      insecure: false,
      quiet: true,
    },
    { stdout: process.stdout, stderr, signals },
  ).then(
    (exit) => ({ exit }),
    (err: unknown) => ({ failure: err as Error }),
  );
  const sizeOf = (file: string): number => {
    try {
      return statSync(file).size;
    } catch {
      return 0;
    }
  };
  const firstBytes = async (): Promise<'started'> => {
    while (sizeOf(args.out) === 0) await sleep(10);
    return 'started';
  };
  const early = await Promise.race([running, firstBytes()]);
  if (early !== 'started' && 'failure' in early) {
    process.stdout.write(`failed ${early.failure.message}\n`);
    process.exit(1);
  }
  process.stdout.write('ready\n');
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (l) => {
    if (l.trim() === 'stop') {
      signals.emit('SIGINT');
      signals.emit('SIGINT');
    }
  });
  const ended = await running;
  const cpu = process.cpuUsage(cpuStart);
  lines.close();

  const file = await readBack(createReadStream(args.out), true);
  const error =
    'failure' in ended
      ? ended.failure.message
      : ended.exit !== 0
        ? `the CLI ended with exit code ${ended.exit}`
        : file.error === undefined
          ? undefined
          : `unreadable file: ${file.error}`;
  report(200, file.epbs, sizeOf(args.out), file, error, cpu);
}

(args.client === 'http' ? viaHttp() : viaCli()).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
