/** Entry point of the standalone `pcap` executable. */
import { exitAfterFlush } from '../core/exit';
import { pcapMain } from './pcap.main';

void pcapMain(
  process.argv.slice(2),
  { stdout: process.stdout, stderr: process.stderr, signals: process },
  process.env,
).then(exitAfterFlush);
