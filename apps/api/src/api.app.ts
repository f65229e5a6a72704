import { ConsoleLogger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';

import { ApiModule } from './api.module';
import type { ApiConfig } from './config/api-config';
import { readTlsMaterial } from './config/tls-material';
import { ApiExceptionFilter } from './http/api-exception.filter';
import { installRequestId } from './http/request-id';

export interface CreateApiOptions {
  /** Override the logger (tests pass `false`). Default: JSON or text per `logging.format`. */
  readonly logger?: ConsoleLogger | false;
}

/**
 * Builds the API on Fastify (HTTPS when `listen.tls` is set, else plain HTTP behind the router). Not listening
 * yet: call {@link listenApi}. Shutdown hooks drain running captures within `drain_timeout_seconds`.
 */
export async function createApiApp(
  config: ApiConfig,
  options: CreateApiOptions = {},
): Promise<NestFastifyApplication> {
  const tls = readTlsMaterial(config);
  const adapter = new FastifyAdapter(
    tls.server === undefined
      ? { bodyLimit: 64 * 1024 }
      : {
          bodyLimit: 64 * 1024,
          https: { key: tls.server.key, cert: tls.server.cert, minVersion: 'TLSv1.2' },
        },
  );
  const logger =
    options.logger ?? new ConsoleLogger({ json: config.logging.format === 'json', colors: false });
  const app = await NestFactory.create<NestFastifyApplication>(ApiModule.forConfig(config, tls), adapter, {
    logger,
  });
  installRequestId(app.getHttpAdapter().getInstance());
  app.useGlobalFilters(new ApiExceptionFilter());
  return app;
}

/** Starts listening on `listen.host:listen.port`; returns the bound port (0 in the config = any free port). */
export async function listenApi(app: NestFastifyApplication, config: ApiConfig): Promise<number> {
  await app.listen({ host: config.listen.host, port: config.listen.port });
  const address = app.getHttpServer().address();
  return typeof address === 'object' && address !== null ? address.port : config.listen.port;
}
