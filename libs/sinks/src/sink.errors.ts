import { CaptureError } from '@pcap/capture';

/** A sink could not be used or delivering to it failed. `sink` is the configured name. */
export class SinkFailedError extends CaptureError {
  readonly code = 'SINK_FAILED';
  constructor(
    readonly sink: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The sink's input was destroyed before it ended: nothing was (or will be) stored as complete. */
export class SinkAbortedError extends SinkFailedError {}

/** The live client went away before the end of the capture (not an error of the capture itself). */
export class ClientGoneError extends SinkFailedError {}

/** No factory is registered for this kind. */
export class UnknownSinkKindError extends CaptureError {
  readonly code = 'INVALID_REQUEST';
  constructor(
    readonly kind: string,
    known: readonly string[],
  ) {
    super(`unknown sink kind '${kind}' (known: ${known.join(', ') || 'none'})`);
  }
}

/** No sink of this name is configured. */
export class UnknownSinkError extends CaptureError {
  readonly code = 'INVALID_REQUEST';
  constructor(
    readonly sinkName: string,
    known: readonly string[],
  ) {
    super(`no sink named '${sinkName}' is configured (configured: ${known.join(', ') || 'none'})`);
  }
}
