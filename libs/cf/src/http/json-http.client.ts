import * as http from 'node:http';
import * as https from 'node:https';

import { CfUnavailableError } from '../errors/cf.error';
import { type SecretToken } from '../uaa/secret-token';

/** How to reach one upstream system (UAA, Cloud Controller, BOSH director). */
export interface HttpEndpointOptions {
  /** Base URL, e.g. `https://api.example.org`. Paths are resolved against it; other origins are refused. */
  readonly url: string;
  /** PEM CA bundle to trust for this endpoint (in addition to nothing: it replaces the system store). */
  readonly ca?: string | Buffer;
  /** Skip TLS verification. For lab setups only; operators must opt in explicitly. */
  readonly skipTlsVerify?: boolean;
  /** Whole-request timeout in ms (connect + headers + body). Default 10 000. */
  readonly timeoutMs?: number;
  /** Refuse bodies larger than this (bytes). Default 8 MiB. */
  readonly maxResponseBytes?: number;
}

/** One request; the token goes into `Authorization: bearer …` and is never logged or echoed. */
export interface HttpJsonRequest {
  readonly method?: 'GET' | 'POST';
  /** Path + query relative to the base URL, or an absolute URL on the same origin (pagination links). */
  readonly path: string;
  readonly token?: SecretToken;
  /** Full `Authorization` header value, for Basic auth. Wins over `token`. */
  readonly authorization?: string;
  /** Propagated as `x-vcap-request-id`. */
  readonly requestId?: string;
  /** Sent as `application/x-www-form-urlencoded`. */
  readonly form?: Readonly<Record<string, string>>;
}

export interface HttpJsonResponse {
  readonly status: number;
  /** Parsed JSON body, or `undefined` if the body was empty or not JSON. */
  readonly body: unknown;
}

/**
 * Minimal JSON-over-HTTP(S) client on Node's `http`/`https` (fetch cannot take a per-endpoint CA without
 * undici). Network failures and timeouts become {@link CfUnavailableError} naming the system; HTTP statuses are
 * returned as they are — the caller maps them, because each system words its errors differently.
 */
export class JsonHttpClient {
  readonly origin: string;
  private readonly base: URL;
  private readonly agent: http.Agent | https.Agent;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;

  constructor(
    /** Human name of the system, used in error messages (`Cloud Controller`, `UAA`, `BOSH director`). */
    readonly system: string,
    options: HttpEndpointOptions,
  ) {
    this.base = new URL(options.url.endsWith('/') ? options.url : `${options.url}/`);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') {
      throw new TypeError(`${system} URL must be http(s), got ${this.base.protocol}`);
    }
    this.origin = this.base.origin;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.maxResponseBytes = options.maxResponseBytes ?? 8 * 1024 * 1024;
    this.agent =
      this.base.protocol === 'https:'
        ? new https.Agent({
            keepAlive: true,
            ca: options.ca,
            rejectUnauthorized: options.skipTlsVerify !== true,
          })
        : new http.Agent({ keepAlive: true });
  }

  /** Resolve a relative path or a same-origin absolute URL; anything else is refused (no token to other hosts). */
  resolve(path: string): URL {
    const url = new URL(path.startsWith('/') ? `.${path}` : path, this.base);
    if (url.origin !== this.origin) {
      throw new CfUnavailableError(
        this.system,
        `${this.system} pointed to another host (${url.origin}); refused`,
      );
    }
    return url;
  }

  /** Close idle keep-alive sockets. */
  close(): void {
    this.agent.destroy();
  }

  async request(req: HttpJsonRequest): Promise<HttpJsonResponse> {
    // A keep-alive socket the server closed while idle fails on reuse; Node's docs advise retrying (GET only).
    // Several pooled sockets may be stale at once, so each retry may meet another one: a few tries, then the
    // failure is what it is, the system being unavailable.
    const tries = (req.method ?? 'GET') === 'GET' ? STALE_SOCKET_TRIES : 1;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.send(req);
      } catch (err: unknown) {
        if (!(err instanceof StaleSocketError)) throw err;
        if (attempt >= tries) throw err.unavailable;
      }
    }
  }

  private send(req: HttpJsonRequest): Promise<HttpJsonResponse> {
    const url = this.resolve(req.path);
    const headers: http.OutgoingHttpHeaders = { accept: 'application/json' };
    if (req.authorization !== undefined) headers.authorization = req.authorization;
    else if (req.token !== undefined) headers.authorization = `bearer ${req.token.reveal()}`;
    if (req.requestId !== undefined) headers['x-vcap-request-id'] = req.requestId;
    let payload: Buffer | undefined;
    if (req.form !== undefined) {
      payload = Buffer.from(new URLSearchParams(req.form).toString());
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['content-length'] = payload.length;
    }
    const where = `${this.system} at ${this.origin}`;
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise<HttpJsonResponse>((resolve, reject) => {
      const fail = (why: string, cause?: unknown): void =>
        reject(new CfUnavailableError(this.system, `${where} is unavailable: ${why}`, { cause }));
      const r = lib.request(url, { method: req.method ?? 'GET', headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > this.maxResponseBytes) {
            r.destroy(new Error(`response larger than ${this.maxResponseBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err) => fail(err.message, err));
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          if (text.length > 0) {
            try {
              body = JSON.parse(text);
            } catch {
              // Not JSON (an HTML error page from a proxy, a plain-text BOSH error): callers see `undefined`.
              body = undefined;
            }
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      const timer = setTimeout(
        () => r.destroy(new Error(`no answer within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      r.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (r.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
          reject(
            new StaleSocketError(
              new CfUnavailableError(this.system, `${where} is unavailable: ${err.message}`),
            ),
          );
          return;
        }
        fail(err.message, err);
      });
      r.end(payload);
    });
  }
}

/** Tries of a GET whose reused keep-alive socket turned out closed. */
const STALE_SOCKET_TRIES = 3;

class StaleSocketError extends Error {
  constructor(readonly unavailable: CfUnavailableError) {
    super(unavailable.message);
  }
}
