import { Inject, Injectable, Optional } from '@nestjs/common';
import { type CaptureRef, S3SinkFactory, S3SinkHandle, SinkRegistry, UnknownSinkError } from '@pcap/sinks';

import { ApiConfig } from '../config/api-config';
import type { OpenedScheduleSink, ScheduleSinks } from './schedule-sink';

/**
 * The operator's `sinks.<name>` a schedule may store to, opened through the sink registry of `@pcap/sinks`
 * (the API's, when ApiModule provides one; else one holding the S3 factory).
 */
@Injectable()
export class ConfiguredScheduleSinks implements ScheduleSinks {
  private readonly registry: SinkRegistry;

  constructor(
    @Inject(ApiConfig) private readonly config: ApiConfig,
    @Optional() registry?: SinkRegistry,
  ) {
    this.registry = registry ?? new SinkRegistry([new S3SinkFactory()]);
  }

  names(): readonly string[] {
    return this.config.sinks.map((s) => s.name);
  }

  async open(name: string, capture: CaptureRef): Promise<OpenedScheduleSink> {
    const config = this.config.sinks.find((s) => s.name === name);
    if (config === undefined) throw new UnknownSinkError(name, this.names());
    const handle = await this.registry.open(capture, config);
    return {
      input: handle.input,
      finished: () => handle.finished(),
      objects: () => (handle instanceof S3SinkHandle ? handle.objects.map((o) => o.key) : []),
    };
  }
}
