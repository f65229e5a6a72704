import type { Writable } from 'node:stream';

import type { CaptureRef } from '@pcap/sinks';

/** One open output of one run: write the pcapng into `input` (it applies backpressure), end it, await `finished`. */
export interface OpenedScheduleSink {
  readonly input: Writable;
  /** Resolves once everything was stored; rejects with the reason when storing failed or was aborted. */
  finished(): Promise<void>;
  /** Keys of the objects stored so far (complete ones). */
  objects(): readonly string[];
}

/** Injection token of the {@link ScheduleSinks} the scheduler stores runs to. */
export const SCHEDULE_SINKS = Symbol('pcap:SCHEDULE_SINKS');

/** The operator's named storage sinks a schedule may choose (S3 buckets). */
export interface ScheduleSinks {
  /** Names a schedule may use. */
  names(): readonly string[];
  /** Opens `name` for one run; rejects when it cannot be opened. */
  open(name: string, capture: CaptureRef): Promise<OpenedScheduleSink>;
}
