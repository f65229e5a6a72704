/**
 * Exit codes of `cf pcap` and `pcap` (docs/cli.md has the table). Every failure a user can act on is a
 * {@link CliError} with one of these codes and a message saying what to do.
 */
export const ExitCode = {
  OK: 0,
  /** Unexpected failure (a bug, or an answer we cannot read). */
  FAILED: 1,
  /** Bad flags, or the output file exists and --force was not given. */
  USAGE: 2,
  /** Not logged in, or the token was refused (cf login / bosh log-in). */
  NOT_LOGGED_IN: 3,
  /** No space targeted (cf target -s), no BOSH environment chosen. */
  NO_TARGET: 4,
  /** The app, deployment or instance group does not exist or is not visible to you. */
  NOT_FOUND: 5,
  /** You may not capture this (not a space developer, operator policy); the message says why. */
  FORBIDDEN: 6,
  /** The pcap API, Cloud Controller or UAA cannot be reached or is unavailable (503). */
  UNAVAILABLE: 7,
  /** A limit: too many captures running, a request over an operator limit, or an operator limit ended the capture early. */
  LIMIT_REACHED: 8,
  /** The API refused the request (bad filter, bad device, ...). */
  BAD_REQUEST: 9,
  /** The capture stream (or a download) broke before its end; a capture file holds every whole block received. */
  STREAM_BROKEN: 10,
  /** The pcap API does not offer this feature (scheduled or stored captures not configured by its operator). */
  NOT_ENABLED: 11,
  /** Stopped at once by a second Ctrl-C; the file holds every whole block received. */
  INTERRUPTED: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCodeValue,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}
