import { CaptureError } from '../errors';

/**
 * A capture byte stream (pcapng or classic pcap) is malformed, truncated, uses a variant this library does not
 * read (big-endian pcapng), or holds a block larger than the configured maximum. Raised by the readers; the
 * offending stream cannot be continued.
 */
export class CaptureFormatError extends CaptureError {
  readonly code = 'CAPTURE_FAILED';
}
