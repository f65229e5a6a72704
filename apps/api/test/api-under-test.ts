/** The real API in-process on 127.0.0.1 (any free port), logs off, for e2e specs. */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

import { createApiApp, listenApi } from '../src/api.app';
import { ApiConfig } from '../src/config/api-config';

export class ApiUnderTest {
  private constructor(
    readonly app: NestFastifyApplication,
    readonly port: number,
  ) {}

  static async start(config: Record<string, unknown>): Promise<ApiUnderTest> {
    const parsed = ApiConfig.fromObject(config);
    const app = await createApiApp(parsed, { logger: false });
    const port = await listenApi(app, parsed);
    return new ApiUnderTest(app, port);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    await this.app.close();
  }
}
