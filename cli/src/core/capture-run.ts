import { createWriteStream, existsSync, type WriteStream } from 'node:fs';

import type { ControlMessage } from '@pcap/capture';

import { FILE_BUFFER_BYTES, framerFor } from './block-framer';
import { type CaptureOptions } from './capture-flags';
import { CaptureTally, formatBytes, ProgressReporter } from './capture-progress';
import { CliError, ExitCode, type ExitCodeValue } from './cli.errors';
import { httpJson, openHttp, readBody } from './http-request';

/** Where and how to start one capture. */
export interface CaptureCall {
  /** Base URL of the pcap API. */
  readonly apiUrl: string;
  /** `/captures` (apps) or `/bosh/captures`. */
  readonly path: string;
  /** The whole `Authorization` header value (`bearer eyJ…`). Never printed. */
  readonly authorization: string;
  readonly insecure: boolean;
  readonly body: Readonly<Record<string, unknown>>;
}

/** The process's streams and signals (a test or another front end may pass its own). */
export interface CaptureIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly signals: NodeJS.EventEmitter;
}

/** The request body keys shared by app and BOSH captures (docs/api.md). */
export function captureBodyOf(o: CaptureOptions): Record<string, unknown> {
  return {
    ...(o.device === undefined ? {} : { device: o.device }),
    ...(o.filter === undefined ? {} : { filter: o.filter }),
    ...(o.snaplen === undefined ? {} : { snaplen: o.snaplen }),
    ...(o.durationSeconds === undefined ? {} : { duration_seconds: o.durationSeconds }),
    ...(o.maxPackets === undefined ? {} : { max_packets: o.maxPackets }),
    ...(o.maxBytes === undefined ? {} : { max_bytes: o.maxBytes }),
    ...(o.format === 'pcapng' ? {} : { format: o.format }),
    ...(o.sink === undefined ? {} : { sink: o.sink }),
  };
}

/** Refuses before anything is contacted: no output named while stdout is a terminal, or an existing file without --force. */
export function checkOutput(options: CaptureOptions, io: CaptureIo): void {
  if (options.output === undefined && io.stdout.isTTY === true && options.sink === undefined) {
    throw new CliError(ExitCode.USAGE, 'name the output: -o FILE, or -o - to write the capture to stdout');
  }
  const file = options.output;
  if (file !== undefined && file !== '-' && !options.force && existsSync(file)) {
    throw new CliError(ExitCode.USAGE, `'${file}' exists; use --force to overwrite it`);
  }
}

/** Maps an error answer of the pcap API (`{code, message, reason?}`) to a CliError with its exit code. */
export function apiErrorOf(status: number, body: unknown, url: string): CliError {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  if (typeof b.message !== 'string') {
    // Not an answer of the pcap API (another server at that URL, a proxy, a router's 404 page).
    const text = `${url} answered ${status}; is that the pcap API? Set --api or PCAP_API.`;
    const code =
      status === 404
        ? ExitCode.NOT_FOUND
        : status === 502 || status === 503 || status === 504
          ? ExitCode.UNAVAILABLE
          : ExitCode.FAILED;
    return new CliError(code, text);
  }
  const code = typeof b.code === 'string' ? b.code : `HTTP_${status}`;
  const message = b.message;
  const reason = typeof b.reason === 'string' ? ` (${b.reason.replace(/_/g, ' ')})` : '';
  switch (status) {
    case 401:
      return new CliError(
        ExitCode.NOT_LOGGED_IN,
        `the pcap API refused your token${reason}: ${message} Log in again.`,
      );
    case 403:
      return new CliError(ExitCode.FORBIDDEN, `not authorised: ${message}`);
    case 404:
      return new CliError(ExitCode.NOT_FOUND, message);
    case 429:
      return new CliError(ExitCode.LIMIT_REACHED, `limit reached: ${message}`);
    case 400:
      return code === 'REQUEST_OVER_LIMIT'
        ? new CliError(ExitCode.LIMIT_REACHED, `over a limit of the pcap API: ${message}`)
        : new CliError(ExitCode.BAD_REQUEST, `the pcap API refused the request: ${message}`);
    case 502:
    case 503:
    case 504:
      return new CliError(
        ExitCode.UNAVAILABLE,
        code === 'NO_INSTANCE_CAPTURABLE'
          ? `no instance can be captured: ${message}`
          : `unavailable: ${message}`,
      );
    default:
      return new CliError(ExitCode.FAILED, `the pcap API answered ${status} ${code}: ${message}`);
  }
}

type Stop = 'none' | 'graceful' | 'now' | 'reader-gone';

/**
 * Runs one capture: POST, stream whole blocks to the file (or stdout), progress and messages on stderr. First
 * SIGINT: graceful stop (`DELETE <path>/<id>`, the API drains the agents and ends the stream with statistics; if
 * the API has no such endpoint, the request is closed). Second SIGINT: stop now. Either way only whole blocks
 * reach the output. Resolves with the exit code; throws CliError for failures before the stream starts.
 */
export async function runCapture(
  call: CaptureCall,
  options: CaptureOptions,
  io: CaptureIo,
): Promise<ExitCodeValue> {
  checkOutput(options, io);
  const res = await openHttp({
    method: 'POST',
    url: `${call.apiUrl}${call.path}`,
    headers: { authorization: call.authorization },
    json: call.body,
    insecure: call.insecure,
    system: 'the pcap API',
    timeoutMs: 120000,
  });
  const status = res.statusCode ?? 0;
  if (status !== 200) {
    const raw = await readBody(res);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      body = undefined;
    }
    throw apiErrorOf(status, body, `${call.apiUrl}${call.path}`);
  }
  const contentType = String(res.headers['content-type'] ?? '');
  if (contentType.startsWith('application/json')) {
    // A capture sent to a sink: the API answers with where it went.
    const raw = await readBody(res);
    if (!options.quiet) io.stderr.write(`${raw.toString('utf8').trim()}\n`);
    return ExitCode.OK;
  }
  const format = contentType.startsWith('application/vnd.tcpdump.pcap') ? 'pcap' : 'pcapng';
  const captureId = typeof res.headers['x-capture-id'] === 'string' ? res.headers['x-capture-id'] : undefined;

  let out: NodeJS.WritableStream;
  let target: string;
  if (options.output === undefined || options.output === '-') {
    out = io.stdout;
    target = 'stdout';
  } else {
    try {
      const file: WriteStream = createWriteStream(options.output, {
        flags: options.force ? 'w' : 'wx',
        mode: 0o644,
        highWaterMark: FILE_BUFFER_BYTES,
      });
      await new Promise<void>((resolve, reject) => file.once('open', () => resolve()).once('error', reject));
      out = file;
    } catch (err) {
      res.destroy();
      const e = err as NodeJS.ErrnoException;
      throw new CliError(
        e.code === 'EEXIST' ? ExitCode.USAGE : ExitCode.FAILED,
        e.code === 'EEXIST'
          ? `'${options.output}' exists; use --force to overwrite it`
          : `cannot write '${options.output}': ${e.message}`,
      );
    }
    target = options.output;
  }

  const tally = new CaptureTally();
  const progress = new ProgressReporter(io.stderr, tally, options.quiet);
  const framer = framerFor(format);
  let stop = 'none' as Stop;
  let failure = undefined as CliError | undefined;
  let outputError = undefined as NodeJS.ErrnoException | undefined;
  let limitHit = undefined as string | undefined;

  const onMessage = (m: ControlMessage): void => {
    progress.message(m);
    if (m.type === 'LIMIT_REACHED') limitHit = limitOf(m);
  };

  out.on('error', (err: NodeJS.ErrnoException) => {
    outputError = err;
    if (err.code === 'EPIPE') stop = 'reader-gone';
    res.destroy();
  });
  out.on('drain', () => res.resume());

  const stopNow = (): void => {
    stop = 'now';
    res.destroy();
  };
  const onSigint = (): void => {
    if (stop === 'none') {
      stop = 'graceful';
      progress.note('stopping: the agents drain and send their statistics (Ctrl-C again to stop now)');
      void requestStop(call, captureId, () => {
        if (stop === 'graceful') res.destroy();
      });
    } else if (stop === 'graceful') {
      progress.note('stopping now');
      stopNow();
    }
  };
  io.signals.on('SIGINT', onSigint);
  progress.start();

  try {
    await new Promise<void>((resolve) => {
      res.on('data', (chunk: Buffer) => {
        if (stop === 'now' || stop === 'reader-gone') return;
        let framed;
        try {
          framed = framer.push(chunk);
        } catch (err) {
          failure = err as CliError;
          res.destroy();
          return;
        }
        for (const e of framed.events) {
          tally.add(e);
          if (e.kind === 'message') onMessage(e.message);
        }
        let ok = true;
        for (const block of framed.blocks) {
          tally.bytes += block.length;
          ok = out.write(block) && ok;
        }
        if (!ok) res.pause();
      });
      res.once('close', () => resolve());
      res.once('error', () => undefined); // 'close' follows; completeness is checked below
    });
  } finally {
    io.signals.off('SIGINT', onSigint);
    progress.stop();
  }
  const complete = res.complete && framer.pendingBytes === 0;

  if (out !== io.stdout) {
    await new Promise<void>((resolve) => out.end(() => resolve()));
  } else if (stop !== 'reader-gone') {
    await new Promise<void>((resolve) => (out.write('') ? resolve() : out.once('drain', () => resolve())));
  }

  const elapsed = tally.elapsedSeconds().toFixed(1);
  const summary =
    `${tally.packets} packets, ${formatBytes(tally.bytes)} from ${tally.instances.size} interface(s) in ${elapsed}s → ${target}` +
    ` (kernel drops ${tally.kernelDrops}, discarded ${tally.discarded})`;
  if (failure !== undefined) throw failure;
  if (outputError !== undefined && stop !== 'reader-gone') {
    throw new CliError(ExitCode.FAILED, `cannot write ${target}: ${outputError.message}`);
  }
  if (!options.quiet) io.stderr.write(`${summary}\n`);
  if (stop === 'now') return ExitCode.INTERRUPTED;
  if (stop === 'graceful' || stop === 'reader-gone') return ExitCode.OK;
  if (!complete) {
    io.stderr.write('the capture stream broke before its end; the file holds every whole block received\n');
    return ExitCode.STREAM_BROKEN;
  }
  if (limitHit !== undefined && !askedFor(limitHit, options)) {
    io.stderr.write(`the capture was ended by the pcap API's ${limitHit} limit\n`);
    return ExitCode.LIMIT_REACHED;
  }
  return ExitCode.OK;
}

/** `DELETE <path>/<id>`; when the API has no such endpoint (or fails), `fallback` closes the request instead. */
async function requestStop(call: CaptureCall, id: string | undefined, fallback: () => void): Promise<void> {
  if (id === undefined) return fallback();
  try {
    const res = await httpJson({
      method: 'DELETE',
      url: `${call.apiUrl}${call.path}/${encodeURIComponent(id)}`,
      headers: { authorization: call.authorization },
      insecure: call.insecure,
      system: 'the pcap API',
      timeoutMs: 10000,
    });
    if (res.status !== 202 && res.status !== 200 && res.status !== 204) return fallback();
    // Accepted: the stream ends by itself once the agents drained; do not wait forever.
    setTimeout(fallback, 30000).unref();
  } catch {
    fallback();
  }
}

function limitOf(m: ControlMessage): string {
  const named = m.fields?.limit;
  if (typeof named === 'string') return named;
  if (/packet/i.test(m.message)) return 'packets';
  if (/byte/i.test(m.message)) return 'bytes';
  if (/duration/i.test(m.message)) return 'duration';
  return 'unknown';
}

function askedFor(limit: string, o: CaptureOptions): boolean {
  switch (limit) {
    case 'packets':
      return o.maxPackets !== undefined;
    case 'bytes':
      return o.maxBytes !== undefined;
    case 'duration':
      return o.durationSeconds !== undefined;
    default:
      return false;
  }
}
