/**
 * Runs the real agent in-process (HTTP/2 + mTLS on 127.0.0.1, any free port) with certificates made by
 * scripts/gen-certs.sh in a temp dir, and talks to it with node:http2 as the API would.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { NestFastifyApplication } from '@nestjs/platform-fastify';

import { createAgentApp, listenAgent } from '../src/agent.app';
import { AgentConfig } from '../src/config/agent-config';

export const GEN_CERTS = join(__dirname, '..', '..', '..', 'scripts', 'gen-certs.sh');

export interface ClientCert {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** Certificates of one test run (keys stay in the temp dir and in memory, never printed). */
export class TestCerts {
  private constructor(readonly dir: string) {}

  static create(): TestCerts {
    const dir = mkdtempSync(join(tmpdir(), 'agent-certs-'));
    execFileSync(GEN_CERTS, [dir, '--test-extras'], { stdio: ['ignore', 'pipe', 'pipe'] });
    return new TestCerts(dir);
  }

  file(name: string): string {
    return join(this.dir, name);
  }

  read(name: string): Buffer {
    return readFileSync(this.file(name));
  }

  client(name: 'api-client' | 'other-client' | 'expired-client' | 'stranger-client'): ClientCert {
    return { cert: this.read(`${name}.crt`), key: this.read(`${name}.key`) };
  }

  destroy(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export class AgentUnderTest {
  private constructor(
    readonly app: NestFastifyApplication,
    readonly port: number,
    readonly certs: TestCerts,
  ) {}

  /** Starts the agent with `overrides` merged into a config whose TLS files come from `certs`. */
  static async start(certs: TestCerts, overrides: Record<string, unknown> = {}): Promise<AgentUnderTest> {
    const config = AgentConfig.fromObject({
      ...overrides,
      listen: { host: '127.0.0.1', port: 0 },
      tls: {
        certificate: certs.file('agent.crt'),
        private_key: certs.file('agent.key'),
        client_ca: certs.file('ca.crt'),
        ...((overrides.tls as object | undefined) ?? {}),
      },
    });
    const app = await createAgentApp(config);
    app.useLogger(false);
    const port = await listenAgent(app, config);
    return new AgentUnderTest(app, port, certs);
  }

  /** An HTTP/2 session presenting `client` (null: no client certificate). Rejects if the handshake fails. */
  connect(client: ClientCert | null = this.certs.client('api-client')): Promise<ClientHttp2Session> {
    return new Promise((resolve, reject) => {
      const session = connect(`https://127.0.0.1:${this.port}`, {
        ca: this.certs.read('ca.crt'),
        servername: 'localhost',
        ...(client ?? {}),
      });
      session.once('error', reject);
      session.once('close', () => reject(new Error('session closed')));
      // TLS 1.3: the client's handshake completes before the server has checked its certificate, so a refusal
      // shows up on the first request (see `request`), not here.
      session.once('connect', () => resolve(session));
    });
  }

  async close(): Promise<void> {
    await this.app.close();
  }
}

export interface Http2Response {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One request; resolves when the response has ended. */
export function request(
  session: ClientHttp2Session,
  method: string,
  path: string,
  body?: unknown,
): Promise<Http2Response> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ':method': method,
      ':path': path,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    });
    const chunks: Buffer[] = [];
    let headers: IncomingHttpHeaders = {};
    stream.on('response', (h) => (headers = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      if (headers[':status'] !== undefined) {
        resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks) });
      }
    });
    stream.on('error', reject);
    // TLS 1.3: a refused client certificate is reported after the client's handshake, as a session error
    // (the server's alert); give it the chance to be the reason before reporting the bare close.
    let sessionError: Error | undefined;
    const onSessionError = (err: Error): void => {
      sessionError = err;
    };
    session.once('error', onSessionError);
    stream.once('close', () => {
      if (headers[':status'] !== undefined) {
        session.off('error', onSessionError);
        return;
      }
      setTimeout(() => {
        session.off('error', onSessionError);
        reject(sessionError ?? new Error(`closed without a response (rst code ${stream.rstCode})`));
      }, 50);
    });
    stream.end(body !== undefined ? JSON.stringify(body) : undefined);
  });
}

export function json(response: Http2Response): Record<string, unknown> {
  return JSON.parse(response.body.toString('utf8')) as Record<string, unknown>;
}
