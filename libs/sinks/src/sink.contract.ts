import type { Writable } from 'node:stream';

/** What a sink knows about the capture it stores: enough to name objects and describe them, nothing secret. */
export interface CaptureRef {
  /** The capture id (a UUID), unique per capture. */
  readonly id: string;
  readonly org: string;
  readonly space: string;
  readonly app: string;
  readonly appGuid: string;
  /** Instance indexes captured. */
  readonly instances: readonly number[];
  /** The user's filter ('' = everything). */
  readonly filter: string;
  /** User name of whoever asked (or the schedule's creator); never a user id or a token. */
  readonly requestedBy: string;
  readonly startedAt: Date;
}

/** Configuration of one sink, as the operator wrote it: `kind` picks the factory, `name` is what users choose. */
export interface SinkConfig {
  readonly kind: string;
  readonly name: string;
}

/**
 * One open output for one capture; never shared. Ownership: the caller writes the capture's pcapng bytes (whole
 * stream, from the Section Header Block) into `input` and ends it when the capture ends, or destroys it to abort.
 *
 * Backpressure: `input.write()` returns false while the destination is behind; storage sinks block (the caller
 * waits for 'drain'), lossy sinks never block and count what they discard instead.
 */
export interface SinkHandle {
  /** Name of the configured sink (for logs and metrics). */
  readonly name: string;
  readonly kind: string;
  readonly input: Writable;
  /**
   * Resolves once everything written was delivered and `input` ended; rejects with a SinkError when delivery
   * failed or was aborted (input destroyed). Idempotent: every call returns the same promise.
   */
  finished(): Promise<void>;
}

/** Stateless factory, one per kind. Per-capture state lives in the handle, never on the factory. */
export interface SinkFactory<C extends SinkConfig = SinkConfig> {
  readonly kind: C['kind'];
  /** Opens one handle for one capture. Rejects with a SinkError if the destination cannot be opened. */
  open(capture: CaptureRef, config: C): Promise<SinkHandle>;
  /**
   * Checks that the destination is reachable and usable (backs `GET /health` through SinkHealth); rejects with a
   * SinkError whose message says why. One attempt, no retries (the caller checks again later). When `signal`
   * aborts, the check stops its requests and rejects promptly.
   */
  check(config: C, signal?: AbortSignal): Promise<void>;
}

/** Injection token of the list of every SinkFactory (one entry per kind). */
export const SINK_FACTORIES = Symbol('pcap:SINK_FACTORIES');
