/** Entry point of the `cf pcap` plugin executable. */
import { exitAfterFlush } from '../core/exit';
import { pluginMain } from './plugin.main';

void pluginMain(
  process.argv.slice(2),
  { stdout: process.stdout, stderr: process.stderr, signals: process },
  process.env,
).then(exitAfterFlush);
