import { createServer, type Server } from 'node:http';

import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';

import { AgentConfig } from '../config/agent-config';
import { AgentMetrics } from './agent-metrics';

/**
 * The optional plain-HTTP metrics listener (`metrics.listen`): answers `GET /metrics` and nothing else, so a
 * Prometheus without the API's client certificate can scrape the agent. Started with the app, closed with it.
 */
@Injectable()
export class MetricsListener implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(MetricsListener.name);
  private server: Server | undefined;

  constructor(
    @Inject(AgentConfig) private readonly config: AgentConfig,
    private readonly metrics: AgentMetrics,
  ) {}

  /** The bound port, once listening. */
  get port(): number | undefined {
    const address = this.server?.address();
    return typeof address === 'object' && address !== null ? address.port : undefined;
  }

  async onApplicationBootstrap(): Promise<void> {
    const listen = this.config.metrics.listen;
    if (listen === undefined) return;
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      this.metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(text),
        (err: unknown) => {
          this.logger.error(`metrics failed: ${err instanceof Error ? err.message : String(err)}`);
          res.writeHead(500).end();
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => resolve());
    });
    this.server = server;
    this.logger.log(
      `metrics served on ${listen.host}:${this.port ?? listen.port} (plain HTTP, GET /metrics)`,
    );
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
