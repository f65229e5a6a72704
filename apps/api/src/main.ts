import 'reflect-metadata';

import { Logger } from '@nestjs/common';

import { createApiApp, listenApi } from './api.app';
import { ApiConfig } from './config/api-config';

/**
 * `node main.js <config.yml>`: parse the config (fail fast, every problem listed), listen, and on SIGTERM/SIGINT
 * stop accepting, drain running captures within `drain_timeout_seconds`, close and exit 0.
 */
async function main(): Promise<void> {
  const logger = new Logger('pcap-api');
  const file = process.argv[2];
  if (!file) throw new Error('usage: pcap-api <config.yml>');
  const config = ApiConfig.load(file);
  const app = await createApiApp(config);
  const port = await listenApi(app, config);
  logger.log(`listening on ${config.listen.host}:${port}`);
  const shutdown = (signal: NodeJS.Signals): void => {
    logger.log(`${signal}: draining`);
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error(`shutdown failed: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
