import type { Http2SecureServer, ServerHttp2Session } from 'node:http2';

import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';

import { AgentModule } from './agent.module';
import type { AgentConfig } from './config/agent-config';
import { readTlsMaterial } from './config/tls-material';

/**
 * Builds the agent on Fastify over HTTP/2 with mutual TLS: TLS 1.2+, a client certificate is required and must
 * chain to `tls.client_ca` (the handshake fails otherwise, before any HTTP). HTTP/1.1 is allowed over the same TLS
 * for simple clients. Not listening yet: call `listen`.
 */
export async function createAgentApp(config: AgentConfig): Promise<NestFastifyApplication> {
  const tls = readTlsMaterial(config);
  const adapter = new FastifyAdapter({
    http2: true,
    https: {
      allowHTTP1: true,
      key: tls.key,
      cert: tls.cert,
      ca: tls.ca,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(AgentModule.forConfig(config), adapter);
  closeSessionsOnClose(app, config.capture.drain_timeout_seconds * 1000);
  return app;
}

/**
 * `server.close()` waits for every HTTP/2 session to end, and the API keeps its session open: close them gracefully
 * (running streams finish; captures were already drained by then) once the app starts closing, and destroy those
 * still open after `timeoutMs`.
 */
function closeSessionsOnClose(app: NestFastifyApplication, timeoutMs: number): void {
  const sessions = new Set<ServerHttp2Session>();
  const server = app.getHttpServer() as unknown as Http2SecureServer;
  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('preClose', (done) => {
      for (const session of sessions) {
        session.close();
        // A client that stopped reading would hold its stream open forever.
        setTimeout(() => session.destroy(), timeoutMs).unref();
      }
      done();
    });
}

/** Starts listening on `listen.host:listen.port`; returns the bound port (0 in the config = any free port). */
export async function listenAgent(app: NestFastifyApplication, config: AgentConfig): Promise<number> {
  await app.listen({ host: config.listen.host, port: config.listen.port });
  const address = app.getHttpServer().address();
  return typeof address === 'object' && address !== null ? address.port : config.listen.port;
}
