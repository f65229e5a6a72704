/**
 * Domain errors of the capture engine. Libraries throw these, never HTTP exceptions; each app maps `code` to a
 * status in one exception filter. `cause` is kept for logs.
 */
export type CaptureErrorCode =
  | 'TARGET_NOT_FOUND'
  | 'FORBIDDEN'
  | 'INVALID_REQUEST'
  | 'INVALID_FILTER'
  | 'LIMIT_REACHED'
  | 'AGENT_UNAVAILABLE'
  | 'CAPTURE_FAILED'
  | 'SINK_FAILED';

export abstract class CaptureError extends Error {
  abstract readonly code: CaptureErrorCode;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The device does not exist (in the namespace the capture was opened in). */
export class DeviceNotFoundError extends CaptureError {
  readonly code = 'TARGET_NOT_FOUND';
}

/** The network namespace path does not exist: typically the container's process has exited. */
export class NamespaceNotFoundError extends CaptureError {
  readonly code = 'TARGET_NOT_FOUND';
}

/** The kernel refused: capturing needs CAP_NET_RAW (and CAP_SYS_ADMIN to enter another namespace). */
export class CapturePermissionError extends CaptureError {
  readonly code = 'FORBIDDEN';
}

/** libpcap could not compile the filter; the message is libpcap's own text. */
export class InvalidFilterError extends CaptureError {
  readonly code = 'INVALID_FILTER';
}

/** An option is out of range or malformed; nothing was opened. */
export class InvalidCaptureOptionError extends CaptureError {
  readonly code = 'INVALID_REQUEST';
}

/** Any other failure to open or read a live capture (device went down, kernel error). */
export class CaptureFailedError extends CaptureError {
  readonly code = 'CAPTURE_FAILED';
}
