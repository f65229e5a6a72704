/** Error codes the API itself raises (besides the libraries' CfErrorCode and CaptureErrorCode). */
export type ApiErrorCode =
  | 'BAD_REQUEST'
  | 'REQUEST_OVER_LIMIT'
  | 'TOO_MANY_CAPTURES'
  | 'NO_INSTANCE_CAPTURABLE'
  | 'DRAINING'
  | 'STORED_CAPTURE_NOT_FOUND';

export abstract class ApiError extends Error {
  abstract readonly code: ApiErrorCode;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The request body or query is malformed; the message lists every problem. */
export class BadCaptureRequestError extends ApiError {
  readonly code = 'BAD_REQUEST';
}

/** The request asks for more than a configured limit allows (the message names the limit and its value). */
export class RequestOverLimitError extends ApiError {
  readonly code = 'REQUEST_OVER_LIMIT';
}

/** A concurrency limit (global or per user) is reached; the message names it. */
export class TooManyCapturesError extends ApiError {
  readonly code = 'TOO_MANY_CAPTURES';
}

/** Not one requested instance could be started; the message lists why for each. */
export class NoInstanceCapturableError extends ApiError {
  readonly code = 'NO_INSTANCE_CAPTURABLE';
}

/** The API is shutting down and accepts no new captures. */
export class DrainingError extends ApiError {
  readonly code = 'DRAINING';
}

/** No such stored capture object (for an app the caller may read). */
export class StoredCaptureNotFoundError extends ApiError {
  readonly code = 'STORED_CAPTURE_NOT_FOUND';
}
