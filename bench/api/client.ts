/**
 * The client of bench/api/run.ts, in its own process (compiled JavaScript) so that neither its CPU nor its memory
 * is counted as the API's: POSTs /captures to the API over plain HTTP/1.1 (as behind gorouter) with a UAA double
 * token, prints `ready` once the answer's headers are in (or `failed <status> <body>` and exits 1), writes the
 * streamed pcapng to a file (with backpressure) while counting Enhanced Packet Blocks, and, when the capture ends
 * (its `duration_seconds`), prints one JSON line: EPBs and bytes received, the last Interface Statistics Block of
 * each interface and the control messages (parsed with `@pcap/capture`'s readPcapng from the non-EPB blocks).
 * A `stop` line on stdin hangs up early (the API then aborts the agents' captures).
 *
 * Usage: client.js '<json {url, token, body, out}>'
 */
import { createWriteStream } from 'node:fs';
import { request } from 'node:http';
import { createInterface } from 'node:readline';

import { readPcapng } from '@pcap/capture';

import { PcapngBlockCounter } from '../agent/block-counter';

interface ClientArgs {
  readonly url: string;
  readonly token: string;
  readonly body: unknown;
  readonly out: string;
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

async function main(): Promise<void> {
  const cpuStart = process.cpuUsage();
  const counter = new PcapngBlockCounter();
  const file = createWriteStream(args.out);
  let error: string | undefined;
  const payload = JSON.stringify(args.body);
  const req = request(`${args.url}/captures`, {
    method: 'POST',
    headers: {
      authorization: `bearer ${args.token}`,
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
  const isbs = new Map<number, Isb>();
  const messages: string[] = [];
  let interfaces = 0;
  const n = (v: bigint | undefined): number | undefined => (v === undefined ? undefined : Number(v));
  try {
    for await (const event of readPcapng(counter.kept)) {
      if (event.type === 'interface') interfaces++;
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
    error ??= `unreadable stream: ${(err as Error).message}`;
  }
  const cpu = process.cpuUsage(cpuStart);
  const out: ClientResult = {
    status,
    epbs: counter.epbs,
    bytes: counter.bytes,
    interfaces,
    isbs: [...isbs.values()],
    messages,
    ...(error !== undefined ? { error } : {}),
    clientCpuUs: cpu.user + cpu.system,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
