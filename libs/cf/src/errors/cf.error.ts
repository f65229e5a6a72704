/**
 * Domain errors of the Cloud Foundry integration. Libraries throw these, never HTTP exceptions; each app maps
 * `code` to a status in its exception filter (UNAUTHENTICATED → 401, FORBIDDEN → 403, NOT_FOUND → 404,
 * UNAVAILABLE → 503). Messages are written for the person who made the request and never contain a token.
 */
export type CfErrorCode = 'UNAUTHENTICATED' | 'FORBIDDEN' | 'NOT_FOUND' | 'UNAVAILABLE';

export abstract class CfError extends Error {
  abstract readonly code: CfErrorCode;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Why a token was refused. Each value has its own person-readable message (see {@link CfAuthError}).
 * `rejected_by_upstream` means UAA, Cloud Controller or the BOSH director refused a token we accepted
 * (revoked, or their clocks/keys differ from ours).
 */
export type CfAuthReason =
  | 'missing_token'
  | 'malformed_token'
  | 'unsupported_algorithm'
  | 'unknown_key'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'refresh_token'
  | 'insufficient_scope'
  | 'rejected_by_upstream';

/** The caller is not authenticated: no token, or a token we (or an upstream) refuse. Maps to 401. */
export class CfAuthError extends CfError {
  readonly code = 'UNAUTHENTICATED';
  constructor(
    readonly reason: CfAuthReason,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Authenticated, but not allowed to do this (CC said 403, or an operator policy refuses). Maps to 403. */
export class CfForbiddenError extends CfError {
  readonly code = 'FORBIDDEN';
}

/** The app, process, space, deployment, ... does not exist or is not visible to the caller. Maps to 404. */
export class CfNotFoundError extends CfError {
  readonly code = 'NOT_FOUND';
}

/**
 * UAA, Cloud Controller or the BOSH director could not be reached, timed out, failed (5xx) or answered with
 * something we cannot read. The message names the system. Maps to 503.
 */
export class CfUnavailableError extends CfError {
  readonly code = 'UNAVAILABLE';
  constructor(
    /** `UAA`, `Cloud Controller` or `BOSH director`. */
    readonly system: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
