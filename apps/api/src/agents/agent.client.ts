import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants as h2,
  type IncomingHttpHeaders,
} from 'node:http2';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';

import { Inject, Injectable } from '@nestjs/common';

import { ApiConfig } from '../config/api-config';
import { API_TLS, type ApiTlsMaterial } from '../config/tls-material';

/** The JSON body of the agent's `POST /captures` (apps/agent/src/capture/capture-request.ts). */
/** What an agent captures: an app instance's container on its cell, or the host itself (BOSH mode). */
export type AgentTarget =
  | {
      readonly app_guid: string;
      readonly instance_guid?: string;
      readonly instance_ip?: string;
    }
  | { readonly host: true };

export interface AgentCaptureBody {
  readonly target: AgentTarget;
  readonly device: string;
  readonly filter: string;
  readonly snaplen: number;
  readonly duration_seconds?: number;
  readonly max_packets?: number;
  readonly max_bytes?: number;
  readonly origin: Readonly<Record<string, string>>;
}

/** The agent could not start the capture (unreachable, refused TLS, or answered with an error status). */
export class AgentStartError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * One capture running on one agent: `stream` is the response body (pcapng), owned by the caller, who must
 * consume or destroy it. `stop()` asks the agent to drain and end the stream with statistics; `close()` drops
 * the connection (the agent aborts the capture when its client goes away).
 */
export interface AgentCapture {
  readonly captureId: string | undefined;
  readonly endpoint: string;
  readonly stream: ClientHttp2Stream;
  stop(): Promise<void>;
  close(): void;
}

/**
 * HTTP/2 flow control towards the agents: what an agent may send ahead of what the API has read, per stream and
 * (set once connected) for the session, which holds one stream. HTTP/2's default of 64 KiB made the API send a
 * WINDOW_UPDATE (a TLS record the agent reads and decrypts) for about every 32 KiB of packets; 1 MiB makes that
 * ~16× rarer and still bounds what a stalled capture buffers in the API to 1 MiB per agent.
 */
export const AGENT_WINDOW_BYTES = 1 << 20;
/** Largest DATA frame an agent may send (HTTP/2's default is 16 KiB): fewer frames, fewer reads in the API. */
export const AGENT_MAX_FRAME_BYTES = 256 * 1024;

/**
 * The seam to the agents: HTTP/2 over mutual TLS (node:http2). The API presents its client certificate; the
 * agent's certificate must chain to `agents.mtls.ca` and carry `agents.mtls.server_name` (checked instead of the
 * dialled address, since agents are dialled by cell IP). One session per capture and agent, so a slow capture
 * can never consume another's connection-level flow-control window.
 */
@Injectable()
export class AgentClient {
  constructor(
    @Inject(ApiConfig) private readonly config: ApiConfig,
    @Inject(API_TLS) private readonly tls: ApiTlsMaterial,
  ) {}

  /** `host:port` of the agent on a cell, as CC names the cell (`host`). */
  endpointOf(cellHost: string): string {
    const override = this.config.agents.endpoints[cellHost];
    if (override !== undefined) return override;
    const host = cellHost.includes(':') ? `[${cellHost}]` : cellHost;
    return `${host}:${this.config.agents.port}`;
  }

  /**
   * Starts a capture on the agent of `cellHost`. Resolves once the agent answered 200 (the body then streams);
   * rejects with AgentStartError naming the agent and its reason otherwise. Nothing stays open on rejection.
   */
  async start(cellHost: string, body: AgentCaptureBody, requestId: string): Promise<AgentCapture> {
    const endpoint = this.endpointOf(cellHost);
    const session = await this.connect(endpoint);
    try {
      const stream = session.request({
        ':method': 'POST',
        ':path': '/captures',
        'content-type': 'application/json',
        'x-vcap-request-id': requestId,
      });
      stream.end(JSON.stringify(body));
      const headers = await this.response(stream, endpoint);
      const status = Number(headers[':status']);
      if (status !== 200) {
        const text = await readSmallBody(stream);
        throw new AgentStartError(
          `agent ${endpoint} refused (HTTP ${status}): ${agentMessage(text)}`,
          status,
        );
      }
      const idHeader = headers['x-capture-id'];
      const captureId = typeof idHeader === 'string' ? idHeader : undefined;
      stream.once('close', () => session.close());
      return {
        captureId,
        endpoint,
        stream,
        stop: () => this.stop(session, captureId, requestId),
        close: () => {
          if (!stream.closed) stream.close(h2.NGHTTP2_CANCEL);
          session.close();
        },
      };
    } catch (err) {
      session.destroy();
      throw err;
    }
  }

  private connect(endpoint: string): Promise<ClientHttp2Session> {
    const { key, cert, ca } = this.tls.agents;
    const serverName = this.config.agents.mtls.server_name;
    const timeoutMs = this.config.agents.connect_timeout_seconds * 1000;
    return new Promise((resolve, reject) => {
      const session = connect(`https://${endpoint}`, {
        key,
        cert,
        ca,
        minVersion: 'TLSv1.2',
        servername: isIpLiteral(serverName) ? undefined : serverName,
        checkServerIdentity: (_host: string, peer: PeerCertificate) => checkServerIdentity(serverName, peer),
        settings: { initialWindowSize: AGENT_WINDOW_BYTES, maxFrameSize: AGENT_MAX_FRAME_BYTES },
      });
      const timer = setTimeout(() => {
        session.destroy();
        reject(new AgentStartError(`agent ${endpoint} did not answer within ${timeoutMs / 1000}s`));
      }, timeoutMs);
      session.once('connect', () => {
        clearTimeout(timer);
        session.setLocalWindowSize(AGENT_WINDOW_BYTES);
        session.removeAllListeners('error');
        // Later session errors surface on the streams; keep one listener so they never crash the process.
        session.on('error', () => undefined);
        resolve(session);
      });
      session.once('error', (err: Error) => {
        clearTimeout(timer);
        session.destroy();
        reject(
          new AgentStartError(`agent ${endpoint} is unreachable: ${err.message}`, undefined, { cause: err }),
        );
      });
    });
  }

  private response(stream: ClientHttp2Stream, endpoint: string): Promise<IncomingHttpHeaders> {
    const timeoutMs = this.config.agents.connect_timeout_seconds * 1000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        stream.close(h2.NGHTTP2_CANCEL);
        reject(
          new AgentStartError(`agent ${endpoint} did not start the capture within ${timeoutMs / 1000}s`),
        );
      }, timeoutMs);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        reject(new AgentStartError(`agent ${endpoint} failed: ${err.message}`, undefined, { cause: err }));
      };
      stream.once('error', fail);
      stream.once('response', (headers) => {
        clearTimeout(timer);
        stream.removeListener('error', fail);
        resolve(headers);
      });
      stream.once('close', () => fail(new Error(`stream closed before an answer (code ${stream.rstCode})`)));
    });
  }

  private stop(session: ClientHttp2Session, captureId: string | undefined, requestId: string): Promise<void> {
    if (captureId === undefined || session.closed || session.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const req = session.request({
        ':method': 'DELETE',
        ':path': `/captures/${encodeURIComponent(captureId)}`,
        'x-vcap-request-id': requestId,
      });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.resume();
      req.end();
    });
  }
}

function isIpLiteral(name: string): boolean {
  return /^[\d.]+$/.test(name) || name.includes(':');
}

async function readSmallBody(stream: ClientHttp2Stream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 64 * 1024) break;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The agent's `{code, message}` error body, or the raw text. */
function agentMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON: show the text as it came
  }
  return text.slice(0, 500) || 'no message';
}
