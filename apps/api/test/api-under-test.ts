/** The real API in-process on 127.0.0.1 (any free port), logs off unless a logger is given, for e2e specs. */
import { ConsoleLogger, type LogLevel } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

import { createApiApp, listenApi } from '../src/api.app';
import { ApiConfig } from '../src/config/api-config';

export class ApiUnderTest {
  private constructor(
    readonly app: NestFastifyApplication,
    readonly port: number,
  ) {}

  static async start(
    config: Record<string, unknown>,
    options: { logger?: ConsoleLogger } = {},
  ): Promise<ApiUnderTest> {
    const parsed = ApiConfig.fromObject(config);
    const app = await createApiApp(parsed, { logger: options.logger ?? false });
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

/** A JSON ConsoleLogger that keeps every line it would print (exactly as printed) instead of writing it. */
export class RecordingLogger extends ConsoleLogger {
  readonly lines: string[] = [];

  constructor() {
    super({ json: true, colors: false });
  }

  protected override printAsJson(
    message: unknown,
    options: {
      context: string;
      logLevel: LogLevel;
      writeStreamType?: 'stdout' | 'stderr';
      errorStack?: unknown;
    },
  ): void {
    this.lines.push(this.stringifyJsonLogObject(this.getJsonLogObject(message, options)));
  }

  /** Parsed lines whose context is `context`. */
  entries(context?: string): Array<Record<string, unknown>> {
    return this.lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => context === undefined || e.context === context);
  }
}
