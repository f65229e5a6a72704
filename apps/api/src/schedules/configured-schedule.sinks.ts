import { Injectable } from '@nestjs/common';

import type { OpenedScheduleSink, ScheduleSinks } from './schedule-sink';

/** The operator's sinks a schedule may store to. */
@Injectable()
export class ConfiguredScheduleSinks implements ScheduleSinks {
  names(): readonly string[] {
    return [];
  }

  open(name: string): Promise<OpenedScheduleSink> {
    return Promise.reject(new Error(`sink '${name}' is not configured`));
  }
}
