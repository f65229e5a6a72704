/**
 * The reader of bench/agent/run.ts, in its own process (compiled JavaScript) so that neither its CPU nor its
 * memory is counted as the agent's: connects to the agent over HTTP/2 with the API's client certificate (one
 * session per capture, as the API does, with the API's flow-control window and frame size), POSTs /captures for each
 * request body, prints `ready` once every capture has answered 200, and discards the streamed bytes while counting
 * Enhanced Packet Blocks. On a `stop` line on stdin it DELETEs every capture, waits for each stream to end and
 * prints one JSON line: per capture the EPBs and bytes received, the final Interface Statistics Block (parsed with
 * `@pcap/capture`'s readPcapng from the non-EPB blocks, which are kept) and the control messages.
 *
 * Usage: reader.js '<json {port, ca, cert, key, bodies}>'
 */
import { readFileSync } from 'node:fs';
import { connect, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { createInterface } from 'node:readline';

import { readPcapng } from '@pcap/capture';

import { PcapngBlockCounter } from './block-counter';

/** The API's HTTP/2 settings towards agents (apps/api/src/agents/agent.client.ts), so the agent works as it would. */
const AGENT_WINDOW_BYTES = 1 << 20;
const AGENT_MAX_FRAME_BYTES = 256 * 1024;

interface ReaderArgs {
  readonly port: number;
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  readonly bodies: readonly unknown[];
}

export interface CaptureResult {
  readonly status: number;
  readonly id: string;
  readonly epbs: number;
  readonly bytes: number;
  /** From the final ISB; absent if the stream ended without one. */
  readonly isb?: { ifRecv?: number; ifDrop?: number; osDrop?: number; usrDeliv?: number };
  readonly messages: readonly string[];
  readonly error?: string;
}

export interface ReaderResult {
  readonly captures: readonly CaptureResult[];
  /** The reader's own CPU time (user + system), for information. */
  readonly readerCpuUs: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as ReaderArgs;
const tls = { ca: readFileSync(args.ca), cert: readFileSync(args.cert), key: readFileSync(args.key) };

class OneCapture {
  status = 0;
  id = '';
  error: string | undefined;
  readonly counter = new PcapngBlockCounter();
  readonly ended: Promise<void>;
  private session!: ClientHttp2Session;
  private stream!: ClientHttp2Stream;

  constructor(private readonly body: unknown) {
    this.ended = new Promise((resolve) => {
      this.session = connect(`https://127.0.0.1:${args.port}`, {
        ...tls,
        servername: 'localhost',
        settings: { initialWindowSize: AGENT_WINDOW_BYTES, maxFrameSize: AGENT_MAX_FRAME_BYTES },
      });
      this.session.once('connect', () => this.session.setLocalWindowSize(AGENT_WINDOW_BYTES));
      this.session.on('error', (err: Error) => {
        this.error ??= err.message;
        resolve();
      });
      this.stream = this.session.request({
        ':method': 'POST',
        ':path': '/captures',
        'content-type': 'application/json',
      });
      this.stream.on('data', (chunk: Buffer) => this.counter.push(chunk));
      this.stream.on('end', () => resolve());
      this.stream.on('error', (err: Error) => {
        this.error ??= err.message;
        resolve();
      });
      this.stream.end(JSON.stringify(this.body));
    });
  }

  /** Resolves with the response status once the headers arrive. */
  answered(): Promise<number> {
    return new Promise((resolve) => {
      this.stream.once('response', (headers) => {
        this.status = Number(headers[':status']);
        this.id = String(headers['x-capture-id'] ?? '');
        resolve(this.status);
      });
      void this.ended.then(() => resolve(this.status));
    });
  }

  stop(): Promise<void> {
    if (this.status !== 200 || this.id === '') return Promise.resolve();
    return new Promise((resolve) => {
      const del = this.session.request({ ':method': 'DELETE', ':path': `/captures/${this.id}` });
      del.on('response', () => undefined);
      del.resume();
      del.on('close', () => resolve());
      del.end();
    });
  }

  async result(): Promise<CaptureResult> {
    await this.ended;
    this.session.close();
    let isb: CaptureResult['isb'];
    const messages: string[] = [];
    try {
      for await (const event of readPcapng(this.counter.kept)) {
        if (event.type === 'message') messages.push(`${event.message.type}: ${event.message.message}`);
        else if (event.type === 'statistics') {
          const n = (v: bigint | undefined): number | undefined => (v === undefined ? undefined : Number(v));
          isb = {
            ifRecv: n(event.ifRecv),
            ifDrop: n(event.ifDrop),
            osDrop: n(event.osDrop),
            usrDeliv: n(event.usrDeliv),
          };
        }
      }
    } catch (err) {
      this.error ??= `unreadable stream: ${(err as Error).message}`;
    }
    return {
      status: this.status,
      id: this.id,
      epbs: this.counter.epbs,
      bytes: this.counter.bytes,
      ...(isb ? { isb } : {}),
      messages,
      ...(this.error !== undefined ? { error: this.error } : {}),
    };
  }
}

async function main(): Promise<void> {
  const cpuStart = process.cpuUsage();
  const captures = args.bodies.map((b) => new OneCapture(b));
  const statuses = await Promise.all(captures.map((c) => c.answered()));
  if (statuses.some((s) => s !== 200)) {
    const results = await Promise.all(captures.map((c) => c.stop().then(() => c.result())));
    process.stdout.write(`failed ${JSON.stringify(results)}\n`);
    process.exit(1);
  }
  process.stdout.write('ready\n');
  const lines = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => lines.on('line', (l) => l.trim() === 'stop' && resolve()));
  lines.close();
  await Promise.all(captures.map((c) => c.stop()));
  const results = await Promise.all(captures.map((c) => c.result()));
  const cpu = process.cpuUsage(cpuStart);
  const out: ReaderResult = { captures: results, readerCpuUs: cpu.user + cpu.system };
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
