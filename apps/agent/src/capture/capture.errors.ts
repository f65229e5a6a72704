import { CaptureError } from '@pcap/capture';

/** The agent already runs `capture.max_concurrent` captures. */
export class CaptureLimitError extends CaptureError {
  readonly code = 'LIMIT_REACHED';
}

/** The agent is shutting down and accepts no new captures. */
export class AgentDrainingError extends CaptureError {
  readonly code = 'AGENT_UNAVAILABLE';
}

/** No running capture has the given id. */
export class CaptureNotFoundError extends CaptureError {
  readonly code = 'TARGET_NOT_FOUND';
}
