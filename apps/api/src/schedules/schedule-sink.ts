import type { Writable } from 'node:stream';

/** What a scheduled run tells the sink about its capture (names objects and their metadata; nothing secret). */
export interface ScheduledCaptureRef {
  readonly id: string;
  readonly org: string;
  readonly space: string;
  readonly app: string;
  readonly appGuid: string;
  readonly instances: readonly number[];
  readonly filter: string;
  readonly requestedBy: string;
  readonly startedAt: Date;
}

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
  open(name: string, capture: ScheduledCaptureRef): Promise<OpenedScheduleSink>;
}
