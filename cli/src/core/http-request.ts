import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

import { CliError, ExitCode } from './cli.errors';

export interface HttpCall {
  readonly method: 'GET' | 'POST' | 'DELETE';
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** JSON body (sets content-type) or a form (application/x-www-form-urlencoded). */
  readonly json?: unknown;
  readonly form?: Readonly<Record<string, string>>;
  /** Skip TLS verification (`-k`, or `cf api --skip-ssl-validation`). */
  readonly insecure?: boolean;
  /** PEM CA bundle to trust instead of the system store (a BOSH environment's `ca_cert`). */
  readonly ca?: string;
  /** Until the answer's headers arrive. Default 30 s. */
  readonly timeoutMs?: number;
  /** Names the system in errors: `the pcap API`, `UAA`, ... */
  readonly system: string;
}

/** Starts a request; resolves with the answer once its headers are in (the body is left to the caller). */
export function openHttp(call: HttpCall): Promise<IncomingMessage> {
  const url = new URL(call.url);
  const body =
    call.json !== undefined
      ? JSON.stringify(call.json)
      : call.form !== undefined
        ? new URLSearchParams(call.form).toString()
        : undefined;
  const headers: Record<string, string> = {
    accept: 'application/json, application/x-pcapng, application/vnd.tcpdump.pcap',
    ...(call.json !== undefined ? { 'content-type': 'application/json' } : {}),
    ...(call.form !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}),
    ...call.headers,
  };
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return Promise.reject(
      new CliError(ExitCode.USAGE, `${call.system}: '${call.url}' is not an http(s) URL`),
    );
  }
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: call.method,
        headers,
        ...(url.protocol === 'https:'
          ? { rejectUnauthorized: call.insecure !== true, ...(call.ca === undefined ? {} : { ca: call.ca }) }
          : {}),
      },
      (res) => {
        clearTimeout(timer);
        resolve(res);
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`no answer within ${(call.timeoutMs ?? 30000) / 1000} s`));
    }, call.timeoutMs ?? 30000);
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const tls = /certificate|self.signed|SSL/i.test(err.message)
        ? ' (use -k to skip TLS verification)'
        : '';
      reject(
        new CliError(
          ExitCode.UNAVAILABLE,
          `cannot reach ${call.system} at ${url.origin}: ${err.message}${tls}`,
          {
            cause: err,
          },
        ),
      );
    });
    req.end(body);
  });
}

/** Reads a whole (small) body; at most `limit` bytes are kept. */
export async function readBody(res: IncomingMessage, limit = 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    if (size < limit) chunks.push(chunk);
    size += chunk.length;
  }
  return Buffer.concat(chunks).subarray(0, limit);
}

/** A whole JSON request: status and parsed body (`undefined` when not JSON). */
export async function httpJson(call: HttpCall): Promise<{ status: number; body: unknown }> {
  const res = await openHttp(call);
  const raw = await readBody(res);
  let body: unknown;
  try {
    body = raw.length === 0 ? undefined : JSON.parse(raw.toString('utf8'));
  } catch {
    body = undefined;
  }
  return { status: res.statusCode ?? 0, body };
}
