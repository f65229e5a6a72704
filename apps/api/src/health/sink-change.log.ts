import { Logger } from '@nestjs/common';
import type { SinkState } from '@pcap/sinks';

const logger = new Logger('SinkHealth');

/**
 * One log line per change of a storage sink's state (SinkHealth's `onChange`): a warning with the reason when it
 * fails its check or fails for another reason, a note when it is usable again. `/health` shows reasons only when
 * configured to, so the log is where an operator finds them. Reasons never hold credentials.
 */
export function logSinkChange(state: SinkState, previous: SinkState | undefined): void {
  const sink = `sink '${state.name}' (${state.kind})`;
  if (state.status === 'ok') {
    logger.log(`${sink} is usable again`);
  } else {
    const was = previous?.status === 'error' ? ' (reason changed)' : '';
    logger.warn(`${sink} failed its check${was}: ${state.reason ?? 'no reason given'}`);
  }
}
